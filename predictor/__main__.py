"""``python -m predictor``: see ``predictor.server.main``."""

from predictor.server import main

main()

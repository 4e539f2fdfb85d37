"""``python -m transformer --predictor_host HOST:PORT --predictor_protocol v2`` (the container command)."""

from __future__ import annotations

from transformer.server import main

if __name__ == "__main__":
    main()

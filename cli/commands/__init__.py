"""One small module per ``credit-scoring`` command group, mounted by ``cli.main``."""

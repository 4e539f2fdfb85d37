"""One small module per ``credit-scoring`` command group, mounted by ``credit_scoring.cli``."""

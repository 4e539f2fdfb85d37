"""Shared contract and tools of the credit-scoring platform.

Training and serving both import the contract modules (``features``, ``schema``, ``scaling``,
``reasons``, ``errors``), so the model's inputs and the meaning of its outputs are defined once.
"""

__version__ = "0.1.0"

"""Shared contract and tools of the credit-scoring platform.

Training, serving and batch scoring all import the contract modules (``features``, ``schema``,
``scaling``, ``policy``, ``explain``, ``reasons``, ``errors``, ``settings``), so the model's inputs,
the decision rule and the meaning of its outputs are defined once.
"""

__version__ = "0.1.0"

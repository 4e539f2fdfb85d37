"""Shared contract of the credit-scoring platform.

Training, serving, batch and monitoring all import the contract modules (``features``,
``schema``, ``scaling``, ``policy``, ``explain``, ``reasons``, ``errors``, ``settings``), so the
model's inputs, the decision rule and the meaning of its outputs are defined once. This package
depends only on its base dependencies (pydantic, pydantic-settings, numpy, orjson) and imports no
component above it.
"""

__version__ = "0.1.0"

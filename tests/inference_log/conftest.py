"""Fixtures of the inference-log tests: the monitoring tests' records, applicant hasher and
stoppable PostgreSQL (one definition each, in ``tests/monitoring/conftest.py``, which the drift
and live tests use too)."""

from __future__ import annotations

from tests.monitoring.conftest import hasher, make_records, private_postgres

__all__ = ["hasher", "make_records", "private_postgres"]

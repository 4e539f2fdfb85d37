"""Fixtures of the inference-log tests: the records and applicant hasher of
``tests/inference_log/records.py`` (which the monitoring tests use too), the monitoring tests'
stoppable PostgreSQL (``db_url``, each test on SQLite and on PostgreSQL, is in tests/conftest.py)."""

from __future__ import annotations

from tests.inference_log.records import hasher, make_records
from tests.monitoring.conftest import private_postgres

__all__ = ["hasher", "make_records", "private_postgres"]

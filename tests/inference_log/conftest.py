"""Fixtures of the inference-log tests: the records and applicant hasher of
``tests/inference_log/records.py`` (which the monitoring tests use too), the monitoring tests'
stoppable PostgreSQL, and ``db_url``: each test on SQLite and on the session's PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference_log.records import hasher, make_records
from tests.monitoring.conftest import private_postgres

__all__ = ["db_url", "hasher", "make_records", "private_postgres"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())

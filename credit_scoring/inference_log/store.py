"""The table and the database side: SQLite or PostgreSQL through the same SQLAlchemy Core code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from credit_scoring.inference_log.records import InferenceRecord

__all__ = ["LOG_TABLE", "create_log_engine", "insert_rows", "iter_rows"]

_METADATA = sa.MetaData()
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

LOG_TABLE = sa.Table(
    "inference_log",
    _METADATA,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("row_index", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(16), primary_key=True),
    sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("applicant_hash", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("model_alias", sa.String(64)),
    sa.Column("features", _JSON, nullable=False),
    sa.Column("pd", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("risk_band", sa.String(32)),
    sa.Column("reason_codes", _JSON, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("thin_file", sa.Boolean, nullable=False),
    sa.Index("ix_inference_log_model", "model_name", "model_version", "logged_at"),
)


def create_log_engine(url: str, connect_timeout: int = 5, statement_timeout: int = 10) -> sa.Engine:
    """An engine for the log: short connect and statement timeouts on PostgreSQL, WAL on SQLite."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the drift job read while the transformer writes.
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        return engine
    args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        args["connect_timeout"] = connect_timeout
        args["options"] = f"-c statement_timeout={statement_timeout * 1000}"
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, connect_args=args)


def insert_rows(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Insert, ignoring rows already present: the idempotence replay relies on."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(LOG_TABLE)
    elif dialect == "sqlite":
        stmt = sqlite.insert(LOG_TABLE)
    else:
        raise ValueError(f"unsupported inference-log database {dialect!r} (use PostgreSQL or SQLite)")
    stmt = stmt.on_conflict_do_nothing(index_elements=["request_id", "row_index", "role"])
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def iter_rows(engine: sa.Engine, since: datetime | None = None) -> Iterator[InferenceRecord]:
    """Every record (optionally since a time), oldest first: for tests and small exports."""
    query = sa.select(LOG_TABLE).order_by(LOG_TABLE.c.logged_at)
    if since is not None:
        query = query.where(LOG_TABLE.c.logged_at >= since)
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            yield InferenceRecord.from_row(dict(row))

"""The table and the database side: SQLite or PostgreSQL.

SQLAlchemy owns the schema, the engine (pooling, timeouts, pre-ping) and the error types; rows
are written with each driver's bulk path, not compiled SQLAlchemy statements: one ``executemany``
of parameter tuples on SQLite, ``COPY`` into a session staging table and one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` on PostgreSQL (psycopg 3). Compiling a Core
insert per batch and converting every row dict cost ~30 ms per 1,000 rows; this costs a few.
The values stored are the ones SQLAlchemy would store (its own bind processor formats the
timestamp; JSON columns are JSON text), so every reader (``iter_rows``, the drift job) is unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from inference_log.records import InferenceRecord

__all__ = [
    "ADDED_COLUMNS",
    "COLUMNS",
    "LOG_TABLE",
    "POSTGRESQL_ONLY_INDEXES",
    "LogStore",
    "create_log_engine",
    "create_schema",
    "iter_rows",
]

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
    # Added for outcome and fairness monitoring (nullable: older rows and clients have none).
    sa.Column("application_id", sa.String(64)),
    sa.Column("age_band", sa.String(16)),
    sa.Column("marital", sa.String(16)),
    # Added with the split router: nullable, so rows written before it stay valid (NULL: served
    # exactly when role is champion, since a challenger then only ever shadowed).
    sa.Column("served", sa.Boolean, nullable=True),
    sa.Index("ix_inference_log_model", "model_name", "model_version", "logged_at"),
    sa.Index("ix_inference_log_application", "application_id"),
    # Per-applicant erasure's index, on PostgreSQL only (revision 0004): a keyed hash puts every
    # insert on a random page; on SQLite that doubled the writer's CPU, and erasure scans there.
    sa.Index("ix_inference_log_applicant", "applicant_hash").ddl_if(dialect="postgresql"),
)
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_inference_log_applicant"})
"""Indexes of ``LOG_TABLE`` made on PostgreSQL only (``ddl_if``; dropped from SQLite by 0004)."""
ADDED_COLUMNS = ("application_id", "age_band", "marital", "served")
"""Columns added after the table first shipped (revisions 0002 and 0003 of
``inference_log.migrations`` add them to an existing table: nullable, so old rows and old writers
stay valid)."""


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


COLUMNS: tuple[str, ...] = tuple(c.name for c in LOG_TABLE.columns)
"""Column order of ``InferenceRecord.values`` / ``RecordBatch.values`` tuples."""

# Statements built from the table's own constant names, never from input (hence the noqa).
_KEY = "request_id, row_index, role"
_NAMES = ", ".join(COLUMNS)
# SQLite rows go in multi-row INSERTs, not executemany: the driver releases the GIL around each
# statement's execution and must take it back after, so executemany handed the GIL to and from
# the server's event loop once per row; now once per SQLITE_ROWS_PER_STATEMENT rows, and at
# 9.2 instead of 10.3 µs of CPU per row (transactions of 920 rows). 999 is the oldest SQLite's
# limit of parameters per statement.
SQLITE_ROWS_PER_STATEMENT = 999 // len(COLUMNS)


@functools.lru_cache(maxsize=SQLITE_ROWS_PER_STATEMENT)
def _sqlite_insert(rows: int) -> str:
    """``INSERT`` of ``rows`` rows that skips the ones already stored (replay is idempotent)."""
    row = f"({', '.join('?' * len(COLUMNS))})"
    values = ", ".join([row] * rows)
    return f"INSERT INTO {LOG_TABLE.name} ({_NAMES}) VALUES {values} ON CONFLICT ({_KEY}) DO NOTHING"  # noqa: S608


_STAGING = "inference_log_staging"
_PG_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} "
    f"(LIKE {LOG_TABLE.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_PG_COPY = f"COPY {_STAGING} ({_NAMES}) FROM STDIN"
_PG_MERGE = (
    f"INSERT INTO {LOG_TABLE.name} ({_NAMES}) SELECT {_NAMES} FROM {_STAGING} "  # noqa: S608
    f"ON CONFLICT ({_KEY}) DO NOTHING"
)


class LogStore:
    """Inserts rows (tuples in ``COLUMNS`` order), ignoring rows already present: the
    idempotence replay relies on. Errors are SQLAlchemy's (``sa.exc.OperationalError`` ...)."""

    def __init__(self, engine: sa.Engine) -> None:
        dialect = engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(
                f"unsupported inference-log database {dialect.name!r} (use PostgreSQL or SQLite)"
            )
        self.engine = engine
        processor = LOG_TABLE.c.logged_at.type.dialect_impl(dialect).bind_processor(dialect)
        # SQLite stores SQLAlchemy's own text form of the timestamp; psycopg takes the datetime.
        self.bind_time: Callable[[datetime], Any] = processor if processor is not None else _same

    def create_table(self) -> None:
        create_schema(self.engine)

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        """All ``rows`` in one transaction."""
        if not rows:
            return
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "sqlite":
                for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
                    part = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
                    conn.exec_driver_sql(_sqlite_insert(len(part)), tuple(chain.from_iterable(part)))
            else:
                _copy_merge(conn, rows)


def create_schema(engine: sa.Engine) -> None:
    """Bring the database to this code's schema through the migrations (``inference_log.migrations``):
    an empty database gets every table; one made by earlier code, with rows, is upgraded in place
    (the nullable columns and indexes it lacks are added, rows kept)."""
    from inference_log.migrations import upgrade

    upgrade(engine)


def _same(value: datetime) -> datetime:
    return value


def _copy_merge(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """``COPY`` into this session's staging table, then one idempotent insert from it."""
    raw: Any = conn.connection.dbapi_connection  # a psycopg.Connection (cursor.copy is psycopg's)
    assert raw is not None
    dbapi = conn.dialect.loaded_dbapi
    statement = _PG_STAGING
    try:
        with raw.cursor() as cursor:
            if not conn.connection.info.get(_STAGING):
                cursor.execute(_PG_STAGING)
                conn.connection.info[_STAGING] = True
            statement = _PG_COPY
            with cursor.copy(_PG_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            statement = _PG_MERGE
            cursor.execute(_PG_MERGE)
    except dbapi.Error as exc:
        # Raw driver errors, as SQLAlchemy would raise them (the writer tells outages from bad
        # data by these types); a broken connection must not go back to the pool.
        error = sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=conn.dialect)
        if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
            conn.invalidate(exc)
        raise error from exc


def iter_rows(engine: sa.Engine, since: datetime | None = None) -> Iterator[InferenceRecord]:
    """Every record (optionally since a time), oldest first: for tests and small exports."""
    query = sa.select(LOG_TABLE).order_by(LOG_TABLE.c.logged_at)
    if since is not None:
        query = query.where(LOG_TABLE.c.logged_at >= since)
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            yield InferenceRecord.from_row(dict(row))

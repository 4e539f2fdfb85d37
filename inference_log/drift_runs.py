"""Drift results (written by ``monitoring.drift``) kept next to the inference log, so ``/monitoring``
can show the last one.

The transformer already reaches the log's database; reading the last result from there keeps
``/monitoring`` free of any call to MLflow or the Pushgateway on the request path. This module
imports neither Evidently nor MLflow: the transformer image can use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["DRIFT_RUNS", "latest_results", "record_result"]

_METADATA = sa.MetaData()
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

DRIFT_RUNS = sa.Table(
    "drift_runs",
    _METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("model_alias", sa.String(64)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("mlflow_run_id", sa.String(64)),
    sa.Column("result", _JSON, nullable=False),
    sa.Index("ix_drift_runs_model", "model_name", "model_version", "run_at"),
)


def record_result(
    engine: sa.Engine, result: dict[str, Any], mlflow_run_id: str | None, run_at: datetime | None = None
) -> None:
    from inference_log.migrations import upgrade

    upgrade(engine)  # the table comes from the migrations, like the log's
    with engine.begin() as conn:
        conn.execute(
            DRIFT_RUNS.insert().values(
                run_at=run_at or datetime.now(UTC),
                model_name=result["model_name"],
                model_version=result["model_version"],
                model_alias=result.get("model_alias"),
                status=result["status"],
                message=result["message"],
                records=result["records"],
                mlflow_run_id=mlflow_run_id,
                result=result,
            )
        )


def latest_results(engine: sa.Engine, model_name: str | None = None, limit: int = 5) -> list[dict[str, Any]]:
    """The most recent drift results, newest first ([] when the job has never run)."""
    if not sa.inspect(engine).has_table(DRIFT_RUNS.name):
        return []
    query = sa.select(DRIFT_RUNS).order_by(DRIFT_RUNS.c.run_at.desc(), DRIFT_RUNS.c.id.desc()).limit(limit)
    if model_name is not None:
        query = query.where(DRIFT_RUNS.c.model_name == model_name)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        when = row["run_at"]
        if when.tzinfo is None:  # SQLite returns naive datetimes; we store UTC
            row["run_at"] = when.replace(tzinfo=UTC)
    return rows

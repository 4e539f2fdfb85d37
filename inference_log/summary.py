"""The ``/monitoring`` JSON: models in service, challenger mode, last drift result.

For the transformer to mount as a route (it knows what it serves; the rest comes from the
inference-log database it already writes to)::

    from inference_log.summary import ServedModel, monitoring_summary_async

    body = await monitoring_summary_async(
        engine=writer.engine,                    # the inference log's engine (or None)
        models=[ServedModel("champion", "credit-risk", "3", "champion"),
                ServedModel("challenger", "credit-risk", "4", "challenger")],
        challenger_mode="shadow",                # off | shadow | split
    )

Never raises: a database that cannot be read gives ``"status": "unavailable"`` sections with
the reason, and the top-level ``status`` says ``degraded``. No applicant data is returned.
Imports neither Evidently nor MLflow, so the transformer image can serve it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from inference_log import LOG_TABLE
from inference_log.drift_runs import latest_results

__all__ = ["ChallengerMode", "ServedModel", "monitoring_summary", "monitoring_summary_async"]


class ChallengerMode(StrEnum):
    OFF = "off"
    SHADOW = "shadow"  # challenger scores a copy of the traffic; only the champion answers
    SPLIT = "split"  # the transformer's router: the challenger decides a sticky share of applicants


@dataclass(frozen=True)
class ServedModel:
    role: str  # champion | challenger
    name: str
    version: str | None  # None until the predictor has answered once
    alias: str | None


def _error(exc: Exception) -> dict[str, Any]:
    return {"status": "unavailable", "error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"}


def _traffic(engine: sa.Engine, since: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Records per (role, version) since ``since``, with the latest time each was scored."""
    if not sa.inspect(engine).has_table(LOG_TABLE.name):
        return {}
    c = LOG_TABLE.c
    query = (
        sa.select(c.role, c.model_version, sa.func.count(), sa.func.max(c.logged_at))
        .where(c.logged_at >= since)
        .group_by(c.role, c.model_version)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out = {}
    for role, version, count, last in rows:
        if isinstance(last, datetime) and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        out[(role, version)] = {
            "records_last_24h": int(count),
            "last_scored_at": last.isoformat() if last else None,
        }
    return out


def _drift(engine: sa.Engine, model_name: str, version: str | None) -> dict[str, Any]:
    results = latest_results(engine, model_name, limit=20)
    if not results:
        return {"status": "never_run"}
    chosen = next((r for r in results if version is not None and r["model_version"] == version), results[0])
    result = chosen["result"]
    psi: dict[str, float] = result.get("feature_psi") or {}
    worst = max(psi.items(), key=lambda kv: kv[1]) if psi else None
    return {
        "status": chosen["status"],
        "message": chosen["message"],
        "run_at": chosen["run_at"].isoformat(),
        "model_name": chosen["model_name"],
        "model_version": chosen["model_version"],
        "records": chosen["records"],
        "window_start": result.get("window_start"),
        "window_end": result.get("window_end"),
        "max_feature_psi": {"feature": worst[0], "psi": worst[1]} if worst else None,
        "score_psi": result.get("score_psi"),
        "drift_share": result.get("drift_share"),
        "drifted_features": sorted(k for k, v in (result.get("feature_drifted") or {}).items() if v),
        "approval_rate": result.get("approval_rate"),
        "champion_challenger_agreement": result.get("champion_challenger_agreement"),
        "mlflow_run_id": chosen["mlflow_run_id"],
    }


def monitoring_summary(
    *,
    engine: sa.Engine | None,
    models: Sequence[ServedModel],
    challenger_mode: str | ChallengerMode,
    model_name: str = "credit-risk",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The summary as a JSON-ready dict (blocking: database reads; see the async variant)."""
    now = now or datetime.now(UTC)
    mode = ChallengerMode(challenger_mode)
    served = [asdict(m) for m in models]
    degraded = False
    drift: dict[str, Any]
    if engine is None:
        drift = {"status": "unavailable", "error": "no inference log configured"}
        degraded = True
    else:
        try:
            traffic = _traffic(engine, now - timedelta(hours=24))
            for entry in served:
                entry.update(
                    traffic.get(
                        (entry["role"], entry["version"]), {"records_last_24h": 0, "last_scored_at": None}
                    )
                )
        except SQLAlchemyError as exc:
            degraded = True
            for entry in served:
                entry["traffic"] = _error(exc)
        champion = next((m for m in models if m.role == "champion"), None)
        try:
            drift = _drift(engine, model_name, champion.version if champion else None)
        except SQLAlchemyError as exc:
            degraded, drift = True, _error(exc)
    return {
        "status": "degraded" if degraded else "ok",
        "generated_at": now.isoformat(),
        "models": served,
        "challenger_mode": mode.value,
        "drift": drift,
    }


async def monitoring_summary_async(
    *,
    engine: sa.Engine | None,
    models: Sequence[ServedModel],
    challenger_mode: str | ChallengerMode,
    model_name: str = "credit-risk",
) -> dict[str, Any]:
    """Same, off the event loop (the database reads run in a worker thread)."""
    return await asyncio.to_thread(
        monitoring_summary,
        engine=engine,
        models=models,
        challenger_mode=challenger_mode,
        model_name=model_name,
    )

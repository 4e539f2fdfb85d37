"""Realised performance where outcomes exist: what each side's decisions turned out to be.

Issue #12 adds an optional ``application_id`` to the inference log and an ``outcomes`` table
beside it (``application_id``, ``defaulted``, ``observed_at``). Until both are there and some
record of the window has an outcome, this returns ``{"status": "no_outcomes"}`` with the reason;
then each side's records in the window that have an outcome give the default rate, the default
rate of approved applications and, with both classes present, AUC and KS of the PD. Kept apart
from the comparison on purpose: the day the outcome schema changes, only this module does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from inference_log import LOG_TABLE

__all__ = ["OUTCOMES_TABLE", "realised_performance"]

OUTCOMES_TABLE = "outcomes"


def _metrics(pd_: np.ndarray, defaulted: np.ndarray, approved: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {
        "records": int(defaulted.size),
        "default_rate": float(defaulted.mean()) if defaulted.size else None,
        "approved_default_rate": float(defaulted[approved].mean()) if approved.any() else None,
        "auc": None,
        "ks": None,
    }
    if 0 < defaulted.sum() < defaulted.size:
        from sklearn.metrics import roc_auc_score, roc_curve

        out["auc"] = float(roc_auc_score(defaulted, pd_))
        fpr, tpr, _ = roc_curve(defaulted, pd_)
        out["ks"] = float(np.max(tpr - fpr))
    return out


def realised_performance(
    engine: sa.Engine,
    model_name: str,
    versions: dict[str, str],
    start: Any,
    end: Any,
) -> dict[str, Any]:
    """Per side (``versions``: role -> version): outcome metrics of the window's records."""
    inspector = sa.inspect(engine)
    if not inspector.has_table(OUTCOMES_TABLE):
        return {"status": "no_outcomes", "reason": f"no {OUTCOMES_TABLE} table beside the inference log"}
    if "application_id" not in {c["name"] for c in inspector.get_columns(LOG_TABLE.name)}:
        return {"status": "no_outcomes", "reason": "the inference log records no application_id"}
    outcomes = sa.Table(OUTCOMES_TABLE, sa.MetaData(), autoload_with=engine)
    log = sa.Table(LOG_TABLE.name, sa.MetaData(), autoload_with=engine)
    sides: dict[str, Any] = {}
    with engine.connect() as conn:
        for role, version in versions.items():
            rows = conn.execute(
                sa.select(log.c.pd, log.c.decision, outcomes.c.defaulted)
                .join(outcomes, outcomes.c.application_id == log.c.application_id)
                .where(
                    log.c.model_name == model_name,
                    log.c.role == role,
                    log.c.model_version == version,
                    log.c.logged_at >= start,
                    log.c.logged_at < end,
                )
            ).all()
            pd_ = np.array([r[0] for r in rows], dtype=np.float64)
            approved = np.array([r[1] == "approve" for r in rows], dtype=bool)
            defaulted = np.array([bool(r[2]) for r in rows], dtype=np.float64)
            sides[role] = {"version": version, **_metrics(pd_, defaulted, approved)}
    if not any(side["records"] for side in sides.values()):
        # The tables exist from the first migration on; empty, they say nothing yet.
        return {"status": "no_outcomes", "reason": "no outcome matches a record of the window"}
    return {"status": "ok", **sides}

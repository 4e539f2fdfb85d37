"""Replay a logged decision: does the registered version, given the logged inputs, decide the same?

A reviewer's first question about any decision is "show me it reproduces". ``replay`` reads the
request's records from the inference log (the model matrix exactly as the booster saw it,
categoricals as level codes, missing as null), loads the version that answered from the MLflow
registry (``governance.version.VersionScorer``: its booster, its inputs, its policy) and scores
them again the way serving does: score from the margin, decision from the version's policy (with
the logged thin-file flag, a policy input), band, and for referred and declined rows the
adverse-action reason codes from exact TreeSHAP ranked by ``credit_scoring.reasons``.

A row reproduces when PD and score agree to float rounding and decision, band and reason codes
are equal. Serving computes contributions by table look-up (``predictor/treeshap.py``, equal to
XGBoost's TreeSHAP up to float32 rounding), so two near-tied reasons could in principle swap
places; the replay would then report it rather than hide it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from credit_scoring.policy import Decision
from credit_scoring.reasons import REASON_CODES, top_reasons_batch
from governance.version import VersionScorer, version_matrix
from inference_log import LOG_TABLE, InferenceRecord

__all__ = ["PD_TOLERANCE", "SCORE_TOLERANCE", "ReplayedRow", "replay"]

PD_TOLERANCE = 1e-6
SCORE_TOLERANCE = 1e-4

Loader = Callable[[str, str], VersionScorer]


@dataclass
class ReplayedRow:
    request_id: str
    row_index: int
    role: str
    model: str
    logged: dict[str, Any]
    replayed: dict[str, Any]
    differences: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return not self.differences


def _records(engine: sa.Engine, request_id: str, role: str | None) -> list[InferenceRecord]:
    if not sa.inspect(engine).has_table(LOG_TABLE.name):
        return []
    query = sa.select(LOG_TABLE).where(LOG_TABLE.c.request_id == request_id)
    if role is not None:
        query = query.where(LOG_TABLE.c.role == role)
    with engine.connect() as conn:
        rows = [InferenceRecord.from_row(dict(r)) for r in conn.execute(query).mappings()]
    return sorted(rows, key=lambda r: (r.role.value, r.row_index))


def _replay_version(scorer: VersionScorer, records: list[InferenceRecord]) -> list[dict[str, Any]]:
    n = len(records)
    columns = {name: [r.features.get(name) for r in records] for name in scorer.feature_names}
    matrix = version_matrix(columns, scorer.feature_names, n)
    margin = scorer.margin(matrix)
    pd_ = 1.0 / (1.0 + np.exp(-margin))
    score = np.asarray(scorer.policy.scale.score_from_margin(margin))
    thin = np.array([r.thin_file for r in records], dtype=bool)
    decisions = scorer.policy.decide(score, thin)
    bands = scorer.policy.band(score)
    reasons: list[list[str] | None] = [[] for _ in records]
    adverse = [i for i, d in enumerate(decisions) if d is not Decision.APPROVE]
    if adverse and set(scorer.feature_names) <= set(REASON_CODES):
        block = matrix[adverse]
        contributions = scorer.contributions(block)[:, :-1]
        ranked = top_reasons_batch(
            contributions, scorer.feature_names, scorer.policy.max_reasons, np.isnan(block), block
        )
        for i, row in zip(adverse, ranked, strict=True):
            reasons[i] = [r.code for r in row]
    elif adverse:
        for i in adverse:
            reasons[i] = None  # a version on inputs today's reason table does not cover
    return [
        {
            "pd": float(pd_[i]),
            "score": float(score[i]),
            "decision": decisions[i].value,
            "risk_band": bands[i],
            "reason_codes": reasons[i],
        }
        for i in range(n)
    ]


def _compare(logged: dict[str, Any], replayed: dict[str, Any]) -> list[str]:
    out = []
    if abs(logged["pd"] - replayed["pd"]) > PD_TOLERANCE:
        out.append(f"pd {logged['pd']:.6f} -> {replayed['pd']:.6f}")
    if abs(logged["score"] - replayed["score"]) > SCORE_TOLERANCE:
        out.append(f"score {logged['score']:.4f} -> {replayed['score']:.4f}")
    for key in ("decision", "risk_band"):
        if logged[key] != replayed[key]:
            out.append(f"{key} {logged[key]} -> {replayed[key]}")
    if replayed["reason_codes"] is None:
        out.append("reason codes not replayable: the version's inputs are not all in today's reason table")
    elif list(logged["reason_codes"]) != replayed["reason_codes"]:
        out.append(f"reasons {','.join(logged['reason_codes'])} -> {','.join(replayed['reason_codes'])}")
    return out


def replay(engine: sa.Engine, request_id: str, load: Loader, role: str | None = None) -> list[ReplayedRow]:
    """Every logged row of ``request_id`` (optionally one role), re-scored; [] when none is logged.

    ``load(name, version)`` returns the version's scorer (``VersionScorer.load`` bound to a
    tracking URI).
    """
    records = _records(engine, request_id, role)
    out: list[ReplayedRow] = []
    by_version: dict[tuple[str, str], list[InferenceRecord]] = {}
    for record in records:
        by_version.setdefault((record.model_name, record.model_version), []).append(record)
    for (name, version), group in by_version.items():
        replayed = _replay_version(load(name, version), group)
        for record, again in zip(group, replayed, strict=True):
            logged = {
                "pd": record.pd,
                "score": record.score,
                "decision": record.decision,
                "risk_band": record.risk_band,
                "reason_codes": list(record.reason_codes),
            }
            out.append(
                ReplayedRow(
                    request_id,
                    record.row_index,
                    record.role.value,
                    f"{name} v{version}",
                    logged,
                    again,
                    _compare(logged, again),
                )
            )
    return sorted(out, key=lambda r: (r.role, r.row_index))

"""The credit answer: PD, score, risk band, decision and adverse-action reasons per application.

Scaling, cut-offs, bands and the thin-file rule come from the model version's ``ScorePolicy``
(in the predictor's response parameters), never from serving constants; reasons come from the
shared reason table ranked by TreeSHAP contributions, and only positive contributions can ever be
cited.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.features import feature_names
from credit_scoring.reasons import reason_dicts_batch
from credit_scoring.scaling import Decision, ScorePolicy
from credit_scoring.schema import Application
from transformer.predictor_client import Prediction, PredictorRejected

__all__ = ["ADVERSE", "PolicyCache", "Scored", "build_answers", "score_batch"]

ADVERSE = frozenset({Decision.REFER, Decision.DECLINE})
_NAMES = feature_names()


class PolicyCache:
    """Parsed ``ScorePolicy`` per policy text: parsed once per model version, not per request."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._cache: OrderedDict[str, ScorePolicy] = OrderedDict()

    def get(self, policy_json: str) -> ScorePolicy:
        policy = self._cache.get(policy_json)
        if policy is None:
            try:
                policy = ScorePolicy.model_validate_json(policy_json)
            except ValueError as exc:
                raise PredictorRejected(
                    f"the model's credit_policy is not a valid ScorePolicy: {exc}"
                ) from exc
            self._cache[policy_json] = policy
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return policy


@dataclass(frozen=True)
class Scored:
    """Score, decision and band per row, before reasons."""

    score: np.ndarray
    decisions: list[Decision]
    bands: list[str]

    def adverse_rows(self) -> np.ndarray:
        return np.fromiter((d in ADVERSE for d in self.decisions), dtype=bool, count=len(self.decisions))


def score_batch(prediction: Prediction, policy: ScorePolicy, thin_file: np.ndarray) -> Scored:
    # The score from the margin is exact (no clipping of PD near 0 or 1).
    score = policy.scale.score_from_margin(prediction.margin)
    return Scored(score, policy.decide(score, thin_file), policy.band(score))


def build_answers(
    applications: Sequence[Application],
    prediction: Prediction,
    contributions: np.ndarray | None,
    scored: Scored,
    policy: ScorePolicy,
    thin_file: np.ndarray,
    request_id: str,
    missing: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One answer per application, in request order.

    ``contributions`` must hold a finite row for every refer/decline row (bias in the last column);
    ``missing`` (bool ``[N, features]``) marks feature values that were missing, which reasons
    never cite by name; ``values`` (the model matrix) lets a categorical reason name the
    applicant's own category (see ``credit_scoring.reasons``).
    """
    model = {
        "name": prediction.model_name,
        "version": prediction.model_version,
        "alias": prediction.model_alias,
    }
    pds = prediction.probability.tolist()
    scores = scored.score.tolist()
    bands = scored.bands
    thin = thin_file.tolist()
    adverse = scored.adverse_rows()
    reasons: list[list[dict[str, object]]] = [[] for _ in range(len(applications))]
    rows = np.flatnonzero(adverse)
    if rows.size:
        if contributions is None:
            raise PredictorRejected(f"no contributions for row {rows[0]}, which needs adverse-action reasons")
        block = contributions[rows]
        unexplained = ~np.isfinite(block).all(axis=1)
        if unexplained.any():
            row = rows[np.argmax(unexplained)]
            raise PredictorRejected(f"no contributions for row {row}, which needs adverse-action reasons")
        # One ranking for the whole batch (``credit_scoring.reasons``: same reasons as row by row).
        ranked = reason_dicts_batch(
            block[:, :-1],
            _NAMES,
            policy.max_reasons,
            None if missing is None else missing[rows],
            None if values is None else values[rows],
        )
        for i, row_reasons in zip(rows.tolist(), ranked, strict=True):
            reasons[i] = row_reasons
    return [
        {
            "applicant_id": app.applicant_id,
            "pd": pds[i],
            "score": scores[i],
            "risk_band": bands[i],
            "decision": scored.decisions[i].value,
            "reasons": reasons[i],
            "thin_file": thin[i],
            "model": model,
            "request_id": request_id,
        }
        for i, app in enumerate(applications)
    ]

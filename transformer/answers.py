"""The credit answer: PD, score, risk band, decision and adverse-action reasons per application.

Scaling, cut-offs, bands and the thin-file rule are the model version's ``ScorePolicy`` (sent by
the predictor with every answer, ``credit_scoring.policy``), never serving constants; reasons
come from the shared reason table ranked by TreeSHAP contributions, and only positive
contributions can ever be cited.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.errors import PredictorRejected
from credit_scoring.explain import ExplainRows
from credit_scoring.features import feature_names
from credit_scoring.policy import Decision, ScorePolicy, needs_reasons
from credit_scoring.reasons import reason_dicts_batch
from credit_scoring.schema import Application
from transformer.predictor_client import Prediction

__all__ = ["Decisions", "PolicyBook", "build_answers", "decide"]

_NAMES = feature_names()


class PolicyBook:
    """The policies one predictor's answers carried: parsed once per policy text, and the last
    version seen with its policy (what the next request asks that predictor to explain with)."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._cache: OrderedDict[str, ScorePolicy] = OrderedDict()
        self.latest: tuple[str, ScorePolicy] | None = None

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

    def explain_rows(self, thin: np.ndarray) -> ExplainRows:
        """What to ask for: the rows the last version's policy could refuse, for that version
        (a predictor that moved on explains every row); every row before the first answer."""
        if self.latest is None:
            return ExplainRows(all=True)
        version, policy = self.latest
        return policy.explain_rows(thin, version)

    def record(self, prediction: Prediction) -> ScorePolicy:
        """The policy of the version that scored ``prediction``, remembered as the latest."""
        policy = self.get(prediction.credit_policy)
        self.latest = (prediction.model_version, policy)
        return policy


@dataclass(frozen=True)
class Decisions:
    """Score, decision and band per row, before reasons."""

    score: np.ndarray
    decisions: list[Decision]
    bands: list[str]

    def needs_reasons(self) -> np.ndarray:
        return needs_reasons(self.decisions)


def decide(prediction: Prediction, policy: ScorePolicy, thin: np.ndarray) -> Decisions:
    # The score from the margin is exact (no clipping of PD near 0 or 1).
    score = policy.scale.score_from_margin(prediction.margin)
    return Decisions(score, policy.decide(score, thin), policy.band(score))


def build_answers(
    applications: Sequence[Application],
    prediction: Prediction,
    decisions: Decisions,
    policy: ScorePolicy,
    thin: np.ndarray,
    request_id: str,
    missing: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One answer per application, in request order.

    The prediction's contributions must hold a finite row for every row that needs reasons (bias
    in the last column); ``missing`` (bool ``[N, features]``) marks feature values that were
    missing, which reasons never cite by name; ``values`` (the model matrix) lets a categorical
    reason name the applicant's own category (see ``credit_scoring.reasons``).
    """
    model = {
        "name": prediction.model_name,
        "version": prediction.model_version,
        "alias": prediction.model_alias,
    }
    pds = prediction.probability.tolist()
    scores = decisions.score.tolist()
    bands = decisions.bands
    thin_list = thin.tolist()
    reasons: list[list[dict[str, object]]] = [[] for _ in range(len(applications))]
    rows = np.flatnonzero(decisions.needs_reasons())
    if rows.size:
        contributions = prediction.contributions
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
            "decision": decisions.decisions[i].value,
            "reasons": reasons[i],
            "thin_file": thin_list[i],
            "model": model,
            "request_id": request_id,
        }
        for i, app in enumerate(applications)
    ]

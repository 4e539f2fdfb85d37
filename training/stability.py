"""Are the adverse-action reasons a property of the applicant, or of the random seed?

The chosen configuration is fitted a second time with another seed (row and column subsampling
draw differently), and both models explain the same applicants: the validation applicants the
registered model refers or declines, the ones who get reasons. The agreement rate is the share
whose *principal* (first) reason code is the same under both fits, ranked exactly as serving
ranks them (``credit_scoring.reasons``, exact TreeSHAP from XGBoost). The registration gate
requires at least ``STABILITY_THRESHOLD``: below it, the first reason a declined applicant reads
would too often be an accident of training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from credit_scoring.features import feature_names
from credit_scoring.policy import Decision, ScorePolicy
from credit_scoring.reasons import top_reasons_batch
from training.dataset import Split
from training.model import ModelConfig, dmatrix, fit

__all__ = ["STABILITY_THRESHOLD", "ReasonStability", "principal_reasons", "reason_stability"]

STABILITY_THRESHOLD = 0.80
SEED_OFFSET = 1


@dataclass(frozen=True)
class ReasonStability:
    agreement: float
    applicants: int
    seeds: tuple[int, int]
    threshold: float = STABILITY_THRESHOLD
    changed: dict[str, int] = dataclasses.field(default_factory=dict)
    """``"R16->R07"`` -> how many applicants' first reason moved that way."""

    @property
    def passed(self) -> bool:
        return self.agreement >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed}


def principal_reasons(booster: xgb.Booster, matrix: np.ndarray, limit: int) -> list[str | None]:
    """The first reason code of every row (None when nothing pushed toward default)."""
    contributions = booster.predict(dmatrix(matrix), pred_contribs=True)[:, :-1]
    ranked = top_reasons_batch(contributions, feature_names(), limit, np.isnan(matrix), matrix)
    return [row[0].code if row else None for row in ranked]


def reason_stability(
    booster: xgb.Booster, policy: ScorePolicy, config: ModelConfig, split: Split
) -> ReasonStability:
    """Refit ``config`` with another seed; agreement of the first reason on adverse validation rows."""
    x_valid = Split.matrix(split.valid)
    scores = policy.scale.score_from_margin(booster.predict(dmatrix(x_valid), output_margin=True))
    adverse = np.array([d is not Decision.APPROVE for d in policy.decide(scores)], dtype=bool)
    other_seed = config.seed + SEED_OFFSET
    other = fit(
        Split.matrix(split.train),
        Split.labels(split.train),
        x_valid,
        Split.labels(split.valid),
        dataclasses.replace(config, seed=other_seed),
    )
    rows = x_valid[adverse]
    if not len(rows):
        return ReasonStability(1.0, 0, (config.seed, other_seed))
    first = principal_reasons(booster, rows, policy.max_reasons)
    second = principal_reasons(other, rows, policy.max_reasons)
    changed: dict[str, int] = {}
    for a, b in zip(first, second, strict=True):
        if a != b:
            key = f"{a}->{b}"
            changed[key] = changed.get(key, 0) + 1
    agreement = float(np.mean([a == b for a, b in zip(first, second, strict=True)]))
    return ReasonStability(
        agreement, len(rows), (config.seed, other_seed), changed=dict(sorted(changed.items()))
    )

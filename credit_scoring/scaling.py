"""Score scaling: the booster's log-odds of default as points on the lender's score scale.

The scale is part of each model version's ``ScorePolicy`` (``credit_scoring.policy``), chosen by
training and read back by serving.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ScoreScale"]


class ScoreScale(BaseModel):
    """Points-to-double-odds scaling: ``base_score`` points at ``base_odds``:1 good:bad odds,
    and every ``pdo`` points double the odds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_score: float = 600.0
    base_odds: float = Field(default=50.0, gt=0)
    pdo: float = Field(default=20.0, gt=0)

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, pd: np.ndarray | float) -> np.ndarray:
        """Score from probability of default; PD is clipped so a score is always finite."""
        p = np.clip(np.asarray(pd, dtype=np.float64), 1e-9, 1 - 1e-9)
        return self.offset + self.factor * np.log((1.0 - p) / p)

    def score_from_margin(self, margin: np.ndarray | float) -> np.ndarray:
        """Score from the booster's log-odds of default (exact, no clipping needed)."""
        return self.offset - self.factor * np.asarray(margin, dtype=np.float64)

    def pd(self, score: np.ndarray | float) -> np.ndarray:
        odds = np.exp((np.asarray(score, dtype=np.float64) - self.offset) / self.factor)
        return 1.0 / (1.0 + odds)

"""Score scaling and the decision policy stored with every model version.

The policy is produced by training (cut-offs chosen on validation data), saved in the MLflow
model's metadata and tags, and read back by serving: nothing here is a serving-side constant.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Decision", "RiskBand", "ScorePolicy", "ScoreScale"]


class Decision(StrEnum):
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


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


class RiskBand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    min_score: float


class ScorePolicy(BaseModel):
    """Everything serving needs to turn a PD into a credit answer, versioned with the model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale: ScoreScale = ScoreScale()
    approve_min_score: float = Field(description="Scores at or above this are approved.")
    decline_below_score: float = Field(description="Scores below this are declined; between: refer.")
    # Ordered from best to worst; a score belongs to the first band whose min_score it reaches.
    bands: tuple[RiskBand, ...]
    thin_file_decision: Decision = Decision.REFER
    max_reasons: int = Field(4, ge=1, le=10)

    @model_validator(mode="after")
    def _check(self) -> ScorePolicy:
        if self.decline_below_score > self.approve_min_score:
            raise ValueError("decline_below_score must not exceed approve_min_score")
        mins = [b.min_score for b in self.bands]
        if not mins or mins != sorted(mins, reverse=True):
            raise ValueError("bands must be non-empty and ordered from best (highest) to worst")
        return self

    def decide(self, score: np.ndarray, thin_file: np.ndarray | None = None) -> list[Decision]:
        decisions = [
            Decision.APPROVE
            if s >= self.approve_min_score
            else Decision.DECLINE
            if s < self.decline_below_score
            else Decision.REFER
            for s in np.asarray(score, dtype=np.float64)
        ]
        if thin_file is not None:
            # Policy, not the model, decides thin files: a score computed from an empty profile
            # is no evidence either way, so it is reported but never decides on its own.
            for i, thin in enumerate(thin_file):
                if thin:
                    decisions[i] = self.thin_file_decision
        return decisions

    def band(self, score: np.ndarray) -> list[str]:
        out: list[str] = []
        for s in np.asarray(score, dtype=np.float64):
            name = self.bands[-1].name
            for b in self.bands:
                if s >= b.min_score:
                    name = b.name
                    break
            out.append(name)
        return out

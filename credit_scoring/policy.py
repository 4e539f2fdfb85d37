"""The credit decision: one rule, stored with every model version, applied by serving and batch.

The policy is produced by training (cut-offs chosen on validation data), saved in the MLflow
model's metadata and tags, and read back by serving: nothing here is a serving-side constant.
This module is the only place that says

- what a **thin file** is (``thin_file``): an applicant the online feature store holds no profile
  for (Feast wrote no event timestamp for the applicant's profile row);
- how a score and a thin file become a **decision** (``ScorePolicy.decide``);
- which decisions owe **adverse-action reasons** (``needs_reasons``), and therefore which rows the
  predictor must explain (``ScorePolicy.explain_rows``, a superset of those rows).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from credit_scoring.explain import ExplainRows
from credit_scoring.scaling import ScoreScale

__all__ = ["NEEDS_REASONS", "POLICY_KEY", "Decision", "RiskBand", "ScorePolicy", "needs_reasons", "thin_file"]

POLICY_KEY = "credit_policy"
"""Where a registered model version carries its ``ScorePolicy`` (JSON): the key of its MLmodel
metadata and of its registry tag (training writes both; serving, monitoring and governance read them)."""

# A margin a hair above the cut-off's is still explained: the decision compares the score in
# float64, the predictor compares the margin; the two roundings must never drop a refused row.
_MARGIN_SLACK = 1e-9


class Decision(StrEnum):
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


NEEDS_REASONS = frozenset({Decision.REFER, Decision.DECLINE})
"""Decisions that owe the applicant adverse-action reasons (Regulation B notices)."""


def thin_file(has_profile: np.ndarray) -> np.ndarray:
    """bool ``[N]``: the applicant is a thin file, i.e. the online store holds no profile for it.

    ``has_profile`` is what the feature readers report (``transformer.online_features``): the
    store holds an event timestamp for the applicant's profile row. A profile whose every value
    happens to be missing is still a profile; only its absence makes a thin file.
    """
    return ~np.asarray(has_profile, dtype=bool)


def needs_reasons(decisions: list[Decision]) -> np.ndarray:
    """bool ``[N]``: the rows whose decision owes adverse-action reasons."""
    return np.fromiter((d in NEEDS_REASONS for d in decisions), dtype=bool, count=len(decisions))


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
        """The decision per row: cut-offs on the score; thin files get ``thin_file_decision``."""
        decisions = [
            Decision.APPROVE
            if s >= self.approve_min_score
            else Decision.DECLINE
            if s < self.decline_below_score
            else Decision.REFER
            for s in np.asarray(score, dtype=np.float64).tolist()
        ]
        if thin_file is not None:
            # Policy, not the model, decides thin files: a score computed from an empty profile
            # is no evidence either way, so it is reported but never decides on its own.
            for i in np.flatnonzero(thin_file).tolist():
                decisions[i] = self.thin_file_decision
        return decisions

    def band(self, score: np.ndarray) -> list[str]:
        out: list[str] = []
        for s in np.asarray(score, dtype=np.float64).tolist():
            name = self.bands[-1].name
            for b in self.bands:
                if s >= b.min_score:
                    name = b.name
                    break
            out.append(name)
        return out

    def explain_margin_above(self) -> float:
        """The margin above which a scored row is refused (score below ``approve_min_score``).

        score = offset - factor * margin, so score < cut-off exactly when
        margin > (offset - cut-off) / factor; a tiny slack keeps rounding on the safe side.
        """
        scale = self.scale
        return (scale.offset - self.approve_min_score) / scale.factor - _MARGIN_SLACK

    def explain_rows(self, thin: np.ndarray, version: str) -> ExplainRows:
        """What to ask the predictor serving ``version`` (whose policy this is) to explain: every
        row ``decide`` could refer or decline, a superset of the rows that ``needs_reasons``."""
        rows = None
        if self.thin_file_decision in NEEDS_REASONS and thin.any():
            rows = np.asarray(thin, dtype=bool)
        return ExplainRows(margin_above=self.explain_margin_above(), rows=rows, for_version=version)

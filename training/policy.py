"""Choose the decision policy (cut-offs and risk bands) on validation data.

The scale is fixed by convention (600 points at 50:1 good:bad odds, 20 points to double the
odds); the cut-offs are chosen per model version from its validation-window scores, against
targets a credit committee sets (``PolicyTargets``, documented in docs/model.md):

- **approve** at or above the lowest score whose approved population (everyone at or above it)
  has a default rate of at most ``approve_max_default_rate``;
- **decline** below the highest score whose declined population (everyone below it) has a
  default rate of at least ``decline_min_default_rate``;
- everything in between is **referred** to an underwriter;
- **risk bands** A-E split the validation scores into equal-count quantiles.

Cut-offs are whole points, so they read well in a policy document.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from credit_scoring.policy import Decision, RiskBand, ScorePolicy
from credit_scoring.scaling import ScoreScale

__all__ = ["BAND_NAMES", "PolicyTargets", "choose_policy"]

BAND_NAMES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class PolicyTargets:
    approve_max_default_rate: float = 0.10
    decline_min_default_rate: float = 0.65
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    max_reasons: int = 4

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _candidates(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every whole-point cut-off across the scores and, for each, how many scores lie below it."""
    ordered = np.sort(score, kind="stable")
    cuts = np.arange(np.floor(ordered[0]), np.ceil(ordered[-1]) + 2)
    return cuts, np.searchsorted(ordered, cuts, side="left")


def _approve_rates(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cut-offs, default rate of everyone at or above each); NaN where nobody is."""
    order = np.argsort(score, kind="stable")
    bad_sorted = y[order]
    cuts, below = _candidates(score)
    bad_above = np.concatenate([np.cumsum(bad_sorted[::-1])[::-1], [0.0]])[below]
    count_above = len(score) - below
    with np.errstate(invalid="ignore", divide="ignore"):
        return cuts, np.where(count_above > 0, bad_above / count_above, np.nan)


def _decline_rates(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cut-offs, default rate of everyone below each); NaN where nobody is."""
    order = np.argsort(score, kind="stable")
    bad_sorted = y[order]
    cuts, below = _candidates(score)
    bad_below = np.concatenate([[0.0], np.cumsum(bad_sorted)])[below]
    with np.errstate(invalid="ignore", divide="ignore"):
        return cuts, np.where(below > 0, bad_below / below, np.nan)


def choose_policy(valid_pd: np.ndarray, valid_y: np.ndarray, targets: PolicyTargets) -> ScorePolicy:
    scale = ScoreScale(base_score=targets.base_score, base_odds=targets.base_odds, pdo=targets.pdo)
    score = np.asarray(scale.score(valid_pd), dtype=np.float64)
    y = np.asarray(valid_y, dtype=np.float64)
    cuts, rate = _approve_rates(score, y)
    ok = np.nonzero(rate <= targets.approve_max_default_rate)[0]
    # The loosest whole-point cut-off that meets the target; none: approve no one.
    approve = float(cuts[ok[0]]) if len(ok) else float(cuts[-1])
    cuts, rate = _decline_rates(score, y)
    ok = np.nonzero(rate >= targets.decline_min_default_rate)[0]
    # The highest whole-point cut-off whose declined population is that bad; none: decline no one.
    decline = min(float(cuts[ok[-1]]) if len(ok) else float(cuts[0]), approve)
    edges = np.floor(np.quantile(score, [0.8, 0.6, 0.4, 0.2]))
    bands = [
        RiskBand(name=name, min_score=float(edge)) for name, edge in zip(BAND_NAMES, edges, strict=False)
    ]
    # The worst band starts at the lowest score the scale can give (ScoreScale clips the PD).
    lowest = float(np.floor(scale.score(1.0)))
    bands.append(RiskBand(name=BAND_NAMES[-1], min_score=min(lowest, float(edges[-1]))))
    return ScorePolicy(
        scale=scale,
        approve_min_score=approve,
        decline_below_score=decline,
        bands=tuple(bands),
        thin_file_decision=Decision.REFER,
        max_reasons=targets.max_reasons,
    )

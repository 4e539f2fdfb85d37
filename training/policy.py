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

from credit_scoring.scaling import Decision, RiskBand, ScorePolicy, ScoreScale

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


def _approve_cutoff(score: np.ndarray, y: np.ndarray, target: float) -> float:
    order = np.argsort(-score, kind="stable")
    s, bad = score[order], y[order]
    # Default rate of the population at or above each candidate cut-off (best first).
    rate = np.cumsum(bad) / np.arange(1, len(bad) + 1)
    ok = np.nonzero(rate <= target)[0]
    if len(ok) == 0:
        return float(np.ceil(s[0]) + 1)  # nobody meets the target: approve no one
    return float(np.floor(s[ok[-1]]))


def _decline_cutoff(score: np.ndarray, y: np.ndarray, target: float) -> float:
    order = np.argsort(score, kind="stable")
    s, bad = score[order], y[order]
    # Default rate of the population below each candidate cut-off (worst first).
    rate = np.cumsum(bad) / np.arange(1, len(bad) + 1)
    ok = np.nonzero(rate >= target)[0]
    if len(ok) == 0:
        return float(np.floor(s[0]))  # nobody is that bad: decline no one
    return float(np.floor(s[ok[-1]]) + 1)


def choose_policy(valid_pd: np.ndarray, valid_y: np.ndarray, targets: PolicyTargets) -> ScorePolicy:
    scale = ScoreScale(base_score=targets.base_score, base_odds=targets.base_odds, pdo=targets.pdo)
    score = np.asarray(scale.score(valid_pd), dtype=np.float64)
    y = np.asarray(valid_y, dtype=np.float64)
    approve = _approve_cutoff(score, y, targets.approve_max_default_rate)
    decline = min(_decline_cutoff(score, y, targets.decline_min_default_rate), approve)
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

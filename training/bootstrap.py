"""Paired bootstrap confidence intervals: is a candidate really different from the baseline?

Both models score the *same* resampled applicants in every replicate (paired), so the interval
is for the difference itself, not for two separately noisy numbers. Each replicate draws the
window's applicants with replacement (multinomial weights, one seeded generator) and recomputes

- the AUC difference (candidate - baseline), rank-based with weights, ties counted half;
- the minimum-AIR difference, for approvals and for approvals or referrals, over the audit
  groups that have at least ``MIN_GROUP`` applicants in the full window (a fixed set, so every
  replicate measures the same quantity).

The interval is the 2.5th-97.5th percentile of the replicates (percentile bootstrap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from credit_scoring.audit import MIN_GROUP, UNKNOWN

__all__ = ["Interval", "PairedDifferences", "metric_intervals", "paired_bootstrap", "weighted_auc"]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class PairedDifferences:
    """Candidate minus baseline, with 95% percentile intervals."""

    auc: Interval
    air_approve: Interval
    air_approve_or_refer: Interval
    replicates: int

    def as_dict(self) -> dict[str, object]:
        return {
            "auc": self.auc.as_dict(),
            "air_approve": self.air_approve.as_dict(),
            "air_approve_or_refer": self.air_approve_or_refer.as_dict(),
            "replicates": self.replicates,
        }


def weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of ``score`` (higher = more likely a default) for each row of ``weights`` ``[B, n]``."""
    values, inverse = np.unique(score, return_inverse=True)
    bad = np.asarray(y, dtype=bool)
    w = np.atleast_2d(weights).astype(np.float64)
    out = np.empty(len(w))
    for b, row in enumerate(w):
        neg = np.bincount(inverse, weights=row * ~bad, minlength=len(values))
        pos = np.bincount(inverse, weights=row * bad, minlength=len(values))
        below = np.cumsum(neg) - neg
        total = pos.sum() * neg.sum()
        out[b] = float((pos * (below + 0.5 * neg)).sum() / total) if total > 0 else np.nan
    return out


def _min_air(groups: Sequence[np.ndarray], favourable: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Minimum AIR per replicate over fixed group masks (``groups``)."""
    rates = []
    for mask in groups:
        count = weights[:, mask].sum(axis=1)
        good = (weights[:, mask] * favourable[mask]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates.append(good / count)
    table = np.column_stack(rates)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmin(table / np.nanmax(table, axis=1, keepdims=True), axis=1)


def _group_masks(attributes: Mapping[str, Sequence[str | None]]) -> list[list[np.ndarray]]:
    out = []
    for values in attributes.values():
        labels = np.array([UNKNOWN if v is None else str(v) for v in values], dtype=object)
        masks = [labels == g for g in sorted(set(labels.tolist())) if g != UNKNOWN]
        out.append([m for m in masks if m.sum() >= MIN_GROUP])
    return out


def _interval(base: float, replicates: np.ndarray) -> Interval:
    finite = replicates[np.isfinite(replicates)]
    if not len(finite):
        return Interval(base, np.nan, np.nan)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Interval(float(base), float(low), float(high))


def paired_bootstrap(
    y: np.ndarray,
    baseline_pd: np.ndarray,
    candidate_pd: np.ndarray,
    attributes: Mapping[str, Sequence[str | None]],
    baseline_outcomes: Mapping[str, np.ndarray],
    candidate_outcomes: Mapping[str, np.ndarray],
    replicates: int = 500,
    seed: int = 0,
) -> PairedDifferences:
    """Candidate-minus-baseline AUC and min-AIR differences with 95% intervals.

    ``*_outcomes`` map ``approve`` / ``approve_or_refer`` to bool arrays (each model under its
    own policy); ``attributes`` maps each audit attribute to the group of every row.
    """
    n = len(y)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64)
    ones = np.ones((1, n))
    d_auc = weighted_auc(y, candidate_pd, weights) - weighted_auc(y, baseline_pd, weights)
    auc0 = float(weighted_auc(y, candidate_pd, ones)[0] - weighted_auc(y, baseline_pd, ones)[0])
    masks = _group_masks(attributes)
    differences = {}
    for outcome in ("approve", "approve_or_refer"):
        base_fav = np.asarray(baseline_outcomes[outcome], dtype=np.float64)
        cand_fav = np.asarray(candidate_outcomes[outcome], dtype=np.float64)

        def overall(fav: np.ndarray, w: np.ndarray) -> np.ndarray:
            per_attribute = [_min_air(m, fav, w) for m in masks if m]
            return np.nanmin(np.column_stack(per_attribute), axis=1)

        point = float(overall(cand_fav, ones)[0] - overall(base_fav, ones)[0])
        differences[outcome] = _interval(point, overall(cand_fav, weights) - overall(base_fav, weights))
    return PairedDifferences(
        auc=_interval(auc0, d_auc),
        air_approve=differences["approve"],
        air_approve_or_refer=differences["approve_or_refer"],
        replicates=replicates,
    )


def _weighted_ks(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    order = np.argsort(score, kind="stable")
    bad = np.asarray(y, dtype=bool)[order]
    w = weights[:, order]
    cdf_bad = np.cumsum(w * bad, axis=1) / np.maximum((w * bad).sum(axis=1, keepdims=True), 1e-12)
    cdf_good = np.cumsum(w * ~bad, axis=1) / np.maximum((w * ~bad).sum(axis=1, keepdims=True), 1e-12)
    # Only where the score changes (a tie block is one step of both CDFs).
    last = np.r_[np.diff(np.asarray(score)[order]) != 0, True]
    return np.abs(cdf_bad - cdf_good)[:, last].max(axis=1)


def metric_intervals(
    y: np.ndarray,
    pd_: np.ndarray,
    attributes: Mapping[str, Sequence[str | None]],
    outcomes: Mapping[str, np.ndarray],
    replicates: int = 500,
    seed: int = 0,
) -> dict[str, Interval]:
    """95% percentile intervals of one model's AUC, Gini, KS, approval rate and minimum AIRs."""
    n = len(y)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64)
    ones = np.ones((1, n))
    masks = [m for m in _group_masks(attributes) if m]
    out: dict[str, Interval] = {}
    auc_b, auc0 = weighted_auc(y, pd_, weights), float(weighted_auc(y, pd_, ones)[0])
    out["auc"] = _interval(auc0, auc_b)
    out["gini"] = _interval(2 * auc0 - 1, 2 * auc_b - 1)
    out["ks"] = _interval(float(_weighted_ks(y, pd_, ones)[0]), _weighted_ks(y, pd_, weights))
    approve = np.asarray(outcomes["approve"], dtype=np.float64)
    out["approval_rate"] = _interval(float(approve.mean()), (weights * approve).sum(axis=1) / n)
    for outcome, key in (("approve", "air_min"), ("approve_or_refer", "air_aor_min")):
        fav = np.asarray(outcomes[outcome], dtype=np.float64)
        point = float(np.nanmin([_min_air(m, fav, ones)[0] for m in masks]))
        reps = np.nanmin(np.column_stack([_min_air(m, fav, weights) for m in masks]), axis=1)
        out[key] = _interval(point, reps)
    return out

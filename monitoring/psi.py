"""Population stability index on bins fixed by the reference, the credit-risk convention.

Evidently's PSI bins reference and current together, so the bins move with the data being
judged. Credit teams fix the bins once, on the reference (deciles of the development sample),
and measure every later population against those same bins: PSI (CSI for a characteristic)
= sum over bins of (current share - reference share) * ln(current share / reference share).
Missing values get their own bin (a thin-file surge is a population change too); categoricals
get one bin per reference level plus one for levels the reference never saw.
Rule of thumb: < 0.1 stable, 0.1-0.25 some shift, > 0.25 significant shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EPSILON", "FixedBins", "psi"]

# Floor for an empty bin's share: keeps ln() finite, the usual choice in scorecard monitoring.
EPSILON = 1e-4


@dataclass(frozen=True)
class FixedBins:
    """Bins fitted on the reference; ``shares`` applies exactly the same bins to any sample."""

    edges: tuple[float, ...] | None  # inner edges, numeric: bin i is (edges[i-1], edges[i]]
    levels: tuple[float, ...] | None  # categorical level codes seen in the reference
    reference_shares: tuple[float, ...]

    @classmethod
    def numeric(cls, reference: np.ndarray, n_bins: int = 10) -> FixedBins:
        values = np.asarray(reference, dtype=np.float64)
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            edges: tuple[float, ...] = ()
        else:
            # Deciles of the reference; features with point masses (debt = 0 for most
            # applicants) give fewer, wider bins, never empty duplicates.
            quantiles = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
            edges = tuple(float(e) for e in np.unique(quantiles))
        bins = cls(edges=edges, levels=None, reference_shares=())
        return cls(edges=edges, levels=None, reference_shares=tuple(float(x) for x in bins._shares(values)))

    @classmethod
    def categorical(cls, reference: np.ndarray) -> FixedBins:
        values = np.asarray(reference, dtype=np.float64)
        levels = tuple(float(v) for v in np.unique(values[~np.isnan(values)]))
        bins = cls(edges=None, levels=levels, reference_shares=())
        return cls(edges=None, levels=levels, reference_shares=tuple(float(x) for x in bins._shares(values)))

    @property
    def labels(self) -> list[str]:
        """Human-readable bin names, for reports."""
        if self.levels is not None:
            return [f"={v:g}" for v in self.levels] + ["other", "missing"]
        edges = self.edges or ()
        lows = ["-inf", *[f"{e:g}" for e in edges]]
        highs = [*[f"{e:g}" for e in edges], "inf"]
        return [f"({lo}, {hi}]" for lo, hi in zip(lows, highs, strict=True)] + ["missing"]

    def _counts(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        present = values[~missing]
        if self.levels is not None:
            levels = np.asarray(self.levels, dtype=np.float64)
            n_bins = levels.size + 1  # + "other": a level the reference never saw
            if levels.size:
                index = np.minimum(np.searchsorted(levels, present), levels.size - 1)
                index = np.where(levels[index] == present, index, levels.size)
            else:
                index = np.zeros(present.size, dtype=np.int64)
        else:
            n_bins = len(self.edges or ()) + 1
            index = np.searchsorted(np.asarray(self.edges or (), dtype=np.float64), present, side="left")
        counts = np.bincount(index, minlength=n_bins).astype(np.float64)
        return np.append(counts, float(missing.sum()))

    def _shares(self, values: np.ndarray) -> np.ndarray:
        counts = self._counts(values)
        total = counts.sum()
        return counts / total if total > 0 else counts

    def shares(self, values: np.ndarray) -> np.ndarray:
        """Share of ``values`` in each bin (the last bin is "missing")."""
        return self._shares(np.asarray(values, dtype=np.float64))

    def psi(self, values: np.ndarray) -> float:
        return psi(np.asarray(self.reference_shares), self.shares(values))


def psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """PSI of two share vectors over the same bins; bins empty in both contribute nothing."""
    ref = np.asarray(reference_shares, dtype=np.float64)
    cur = np.asarray(current_shares, dtype=np.float64)
    used = (ref > 0) | (cur > 0)
    r = np.maximum(ref[used], EPSILON)
    c = np.maximum(cur[used], EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))

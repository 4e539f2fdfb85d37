"""Does the PD mean what it says? The calibration gate's two tests, on the validation window.

- **Per risk band**: the band's observed default count must lie inside the central 95% interval
  of a binomial with the band's size and its mean predicted PD (``scipy.stats.binom``), i.e. the
  observed rate is one a well-calibrated model would plausibly produce. Five bands are five
  tests: even a perfectly calibrated model fails one of them about 23% of the time
  (1 - 0.95^5), so the gate is strict on purpose; a refused version is retrained or recalibrated.
- **Hosmer-Lemeshow**: applicants in ``groups`` PD quantile groups, chi-square of observed vs
  expected defaults and non-defaults with ``groups - 2`` degrees of freedom; p must exceed 0.05.

Both are computed on validation (the window the policy was chosen on, never used for fitting
trees; early stopping used it, which is why the out-of-time test window is reported as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from credit_scoring.policy import ScorePolicy

__all__ = [
    "HL_GROUPS",
    "HL_MIN_P",
    "CalibrationCheck",
    "band_intervals",
    "calibration_by_group",
    "check_calibration",
    "hosmer_lemeshow",
]

HL_GROUPS = 10
HL_MIN_P = 0.05
INTERVAL = 0.95


def band_intervals(y: np.ndarray, pd_: np.ndarray, bands: list[str], order: list[str]) -> pd.DataFrame:
    """Per band: count, mean PD, observed default rate and the binomial 95% interval of the rate."""
    frame = pd.DataFrame({"band": bands, "y": np.asarray(y, dtype=np.float64), "pd": pd_})
    rows = []
    tail = (1.0 - INTERVAL) / 2.0
    for band in order:
        part = frame[frame["band"] == band]
        n = len(part)
        if n == 0:
            continue
        mean_pd = float(part["pd"].mean())
        defaults = float(part["y"].sum())
        low = float(stats.binom.ppf(tail, n, mean_pd))
        high = float(stats.binom.ppf(1.0 - tail, n, mean_pd))
        rows.append(
            {
                "band": band,
                "count": n,
                "mean_pd": mean_pd,
                "observed_default_rate": defaults / n,
                "interval_low": low / n,
                "interval_high": high / n,
                "inside": bool(low <= defaults <= high),
            }
        )
    return pd.DataFrame(rows)


def hosmer_lemeshow(y: np.ndarray, pd_: np.ndarray, groups: int = HL_GROUPS) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) over PD quantile groups."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(pd_, dtype=np.float64), 1e-12, 1 - 1e-12)
    labels = pd.qcut(p, groups, labels=False, duplicates="drop")
    statistic = 0.0
    used = 0
    for g in np.unique(labels):
        mask = labels == g
        n = float(mask.sum())
        expected = float(p[mask].sum())
        observed = float(y[mask].sum())
        # Defaults and non-defaults both: (O - E)^2 / (E (1 - E/n)).
        statistic += (observed - expected) ** 2 / (expected * (1.0 - expected / n))
        used += 1
    dof = max(used - 2, 1)
    return statistic, dof, float(stats.chi2.sf(statistic, dof))


@dataclass
class CalibrationCheck:
    """The calibration gate's evidence on one window."""

    bands: pd.DataFrame
    hl_statistic: float
    hl_dof: int
    hl_p: float
    window: str = "validation"
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "passed": self.passed,
            "problems": list(self.problems),
            "hosmer_lemeshow": {"statistic": self.hl_statistic, "dof": self.hl_dof, "p": self.hl_p},
            "bands": self.bands.to_dict(orient="records"),
        }


def check_calibration(
    y: np.ndarray, pd_: np.ndarray, score: np.ndarray, policy: ScorePolicy, window: str = "validation"
) -> CalibrationCheck:
    bands = band_intervals(y, pd_, policy.band(score), [b.name for b in policy.bands])
    statistic, dof, p = hosmer_lemeshow(y, pd_)
    problems = [
        f"band {r.band}: observed default rate {r.observed_default_rate:.3f} outside "
        f"[{r.interval_low:.3f}, {r.interval_high:.3f}] (mean PD {r.mean_pd:.3f}, n={r.count})"
        for r in bands.itertuples()
        if not r.inside
    ]
    if not p > HL_MIN_P:
        problems.append(f"Hosmer-Lemeshow p = {p:.3f} (chi2 {statistic:.2f}, {dof} dof) not above {HL_MIN_P}")
    return CalibrationCheck(bands, statistic, dof, p, window, problems)


def calibration_by_group(groups: pd.Series, y: np.ndarray, pd_: np.ndarray) -> pd.DataFrame:
    """Mean predicted PD next to the observed default rate in each group (e.g. each age band)."""
    frame = pd.DataFrame(
        {"group": groups.fillna("unknown").astype(str).to_numpy(), "y": np.asarray(y), "pd": pd_}
    )
    table = frame.groupby("group").agg(count=("y", "size"), mean_pd=("pd", "mean"), observed=("y", "mean"))
    table["difference"] = table["observed"] - table["mean_pd"]
    return table.rename(columns={"observed": "observed_default_rate"}).reset_index()

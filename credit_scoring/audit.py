"""Audit attributes: what fair-lending monitoring groups applicants by, never what the model scores.

Age and marital status live in the applicant profile (Feast) but are not model inputs
(``features.AUDIT_ONLY_FIELDS``). Training audits adverse impact by them, the transformer writes
them to the inference log next to each decision (never into the model's matrix), and the drift
job computes production approval-rate ratios from the log. The bands are defined once, here.

The top age band starts at 62: Regulation B (12 CFR 1002.6(b)(2)) protects applicants aged 62
and over from any negative factor for their age, so the audit must be able to see them apart.

The adverse-impact ratio (AIR) of a group is its favourable-outcome rate (approvals, or
approvals and referrals) over the rate of the most favoured group. Groups smaller than
``MIN_GROUP`` are reported but neither flagged nor used for the minimum or as the reference
(too noisy to act on); below ``AIR_THRESHOLD`` (the four-fifths rule) is flagged. Training and
the drift job compute it with this one function.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from credit_scoring.features import CATEGORICAL_LEVELS

__all__ = [
    "AGE_BANDS",
    "AIR_THRESHOLD",
    "AUDIT_ATTRIBUTES",
    "ELDERLY_AGE",
    "MIN_GROUP",
    "UNKNOWN",
    "GroupRate",
    "adverse_impact",
    "age_band",
    "age_bands",
    "marital_status",
    "min_air",
]

ELDERLY_AGE = 62
"""Regulation B's age from which no negative factor for age is allowed."""

# (label, lowest age, first age of the next band); the last band is open-ended.
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("18-24", 18, 25),
    ("25-34", 25, 35),
    ("35-44", 35, 45),
    ("45-54", 45, 55),
    ("55-61", 55, ELDERLY_AGE),
    (f"{ELDERLY_AGE}+", ELDERLY_AGE, None),
)
UNKNOWN = "unknown"
"""The group of applicants whose attribute is missing (reported, never a band of its own)."""

AIR_THRESHOLD = 0.8
MIN_GROUP = 30

AUDIT_ATTRIBUTES = ("age_band", "marital")
"""What the inference log keeps per decision for fairness monitoring."""


def age_band(age: object) -> str | None:
    """The band of one age (``None`` when the age is missing, not a number, or below 18)."""
    if age is None or isinstance(age, bool):
        return None
    try:
        value = float(age)  # type: ignore[arg-type]  # numbers and numeric strings; others fail below
    except (TypeError, ValueError):
        return None
    if math.isnan(value):
        return None
    for label, low, high in AGE_BANDS:
        if value >= low and (high is None or value < high):
            return label
    return None


_LOWS = np.array([low for _, low, _ in AGE_BANDS], dtype=np.float64)
_LABELS: list[str | None] = [None, *(label for label, _, _ in AGE_BANDS)]


def age_bands(ages: Iterable[object]) -> list[str | None]:
    """``age_band`` of each age; a float array (the transformer's profile column) in one pass."""
    if isinstance(ages, np.ndarray) and ages.dtype.kind in "fiu":
        values = ages.astype(np.float64)
        # 0 = below 18 or missing (NaN sorts after every bound: masked below).
        index = np.searchsorted(_LOWS, values, side="right")
        index[np.isnan(values)] = 0
        return [_LABELS[i] for i in index.tolist()]
    return [age_band(a) for a in ages]


def marital_status(value: object) -> str | None:
    """A known marital-status level, or ``None`` (missing or unknown levels are not guessed)."""
    return value if isinstance(value, str) and value in CATEGORICAL_LEVELS["marital"] else None


@dataclass(frozen=True)
class GroupRate:
    group: str
    count: int
    rate: float
    """Share of the group with the favourable outcome."""
    air: float
    """``rate`` over the reference group's rate (NaN when no group has a favourable outcome)."""
    flagged: bool
    """AIR below the four-fifths threshold, for a group of at least ``MIN_GROUP``."""


def adverse_impact(
    groups: Sequence[str | None], favourable: Sequence[bool] | np.ndarray, min_group: int = MIN_GROUP
) -> list[GroupRate]:
    """Favourable rate and AIR per group (missing groups pooled as ``unknown``), sorted by name."""
    labels = np.array([UNKNOWN if g is None else str(g) for g in groups], dtype=object)
    good = np.asarray(favourable, dtype=bool)
    if len(labels) != len(good):
        raise ValueError(f"{len(labels)} groups for {len(good)} outcomes")
    names = sorted(set(labels.tolist()))
    counts = {g: int((labels == g).sum()) for g in names}
    rates = {g: float(good[labels == g].mean()) for g in names}
    # The reference is the most favoured group that is big enough and known.
    eligible = [g for g in names if counts[g] >= min_group and g != UNKNOWN]
    reference = max((rates[g] for g in eligible or names), default=0.0)
    out = []
    for g in names:
        air = rates[g] / reference if reference > 0 else math.nan
        flagged = counts[g] >= min_group and g != UNKNOWN and air < AIR_THRESHOLD
        out.append(GroupRate(g, counts[g], rates[g], air, flagged))
    return out


def min_air(rates: Sequence[GroupRate], min_group: int = MIN_GROUP) -> float:
    """The lowest AIR among groups of at least ``min_group`` (the unknown group excluded); NaN if none."""
    values = [r.air for r in rates if r.count >= min_group and r.group != UNKNOWN and not math.isnan(r.air)]
    return min(values) if values else math.nan

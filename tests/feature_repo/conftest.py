"""Helpers for the feature-repo tests."""

from __future__ import annotations

import math

import pandas as pd


def same_value(a: object, b: object) -> bool:
    """Equal, with every flavour of missing (None, NaN, pd.NA) equal to each other."""
    a_missing = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA
    b_missing = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def latest_profiles(profile: pd.DataFrame) -> pd.DataFrame:
    """Each applicant's newest profile version, straight from the Parquet table."""
    ordered = profile.sort_values(["applicant_id", "event_timestamp", "created_timestamp"])
    return ordered.groupby("applicant_id").tail(1).set_index("applicant_id")

"""Reason ranking: only pushes toward default, never a missing feature by name."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.features import feature_names
from credit_scoring.reasons import INSUFFICIENT_INFORMATION, REASON_CODES, top_reasons

NAMES = feature_names()


def _row(**values: float) -> np.ndarray:
    row = np.zeros(len(NAMES))
    for name, value in values.items():
        row[NAMES.index(name)] = value
    return row


def test_ranked_by_contribution_and_only_positive():
    row = _row(income=0.5, debt=0.2, records=0.9, assets=-1.0, term=0.0)

    reasons = top_reasons(row, NAMES, limit=4)

    assert [r.feature for r in reasons] == ["records", "income", "debt"]
    assert [r.code for r in reasons] == [REASON_CODES[n][0] for n in ("records", "income", "debt")]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_limit_is_respected(limit):
    row = _row(income=0.5, debt=0.2, records=0.9, expenses=0.1)
    assert len(top_reasons(row, NAMES, limit)) == limit


def test_missing_features_are_pooled_not_named():
    row = _row(income=0.4, debt_to_income=0.3, amount=0.5, records=0.05)
    missing = np.zeros(len(NAMES), dtype=bool)
    missing[[NAMES.index("income"), NAMES.index("debt_to_income")]] = True

    reasons = top_reasons(row, NAMES, limit=4, missing=missing)

    assert [r.code for r in reasons] == [
        INSUFFICIENT_INFORMATION[0],
        REASON_CODES["amount"][0],
        REASON_CODES["records"][0],
    ]
    pooled = reasons[0]
    assert pooled.contribution == pytest.approx(0.7)
    assert set(pooled.feature.split(",")) == {"income", "debt_to_income"}
    assert "income" not in [r.feature for r in reasons[1:]]


def test_missing_feature_that_lowered_risk_is_not_a_reason():
    row = _row(income=-0.4, amount=0.5)
    missing = np.zeros(len(NAMES), dtype=bool)
    missing[NAMES.index("income")] = True
    assert [r.feature for r in top_reasons(row, NAMES, 4, missing)] == ["amount"]


def test_no_positive_contribution_gives_no_reason():
    assert top_reasons(_row(income=-0.1, debt=0.0), NAMES, 4) == []

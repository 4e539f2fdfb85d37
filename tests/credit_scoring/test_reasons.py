"""Reason ranking: only pushes toward default, never a missing feature by name."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.features import feature_names
from credit_scoring.reasons import (
    INSUFFICIENT_INFORMATION,
    REASON_CODES,
    Reason,
    reason_dicts_batch,
    top_reasons,
    top_reasons_batch,
)

NAMES = feature_names()


def reference_ranking(row: np.ndarray, limit: int, missing: np.ndarray | None = None) -> list[Reason]:
    """The ranking rules written as plainly as possible, one feature at a time."""
    candidates: list[Reason] = []
    pooled, pooled_names = 0.0, []
    for j, value in enumerate(row.tolist()):
        if not value > 0.0:
            continue
        if missing is not None and missing[j]:
            pooled += value
            pooled_names.append(NAMES[j])
            continue
        candidates.append(Reason(*REASON_CODES[NAMES[j]], NAMES[j], value))
    if pooled_names:
        candidates.append(Reason(*INSUFFICIENT_INFORMATION, ",".join(pooled_names), pooled))
    candidates.sort(key=lambda r: -r.contribution)  # stable: ties keep the feature order
    return candidates[:limit]


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


@pytest.mark.parametrize("seed", range(5))
def test_batch_ranking_equals_row_by_row(seed):
    rng = np.random.default_rng(seed)
    n = 400
    # Rounded values make ties common, zeros and negatives are never reasons, and some rows have
    # missing features (pooled under R00): every branch of the ranking, in one block.
    values = np.round(rng.normal(0.0, 0.3, size=(n, len(NAMES))), 1)
    missing = rng.random((n, len(NAMES))) < 0.15
    missing[: n // 4] = False
    for limit in (1, 4):
        batch = top_reasons_batch(values, NAMES, limit, missing)
        dicts = reason_dicts_batch(values, NAMES, limit, missing)
        rows = [reference_ranking(values[i], limit, missing[i]) for i in range(n)]
        assert batch == rows
        assert dicts == [[r.as_dict() for r in row] for row in rows]
    assert top_reasons_batch(values, NAMES, 4) == [reference_ranking(v, 4) for v in values]
    assert [top_reasons(values[i], NAMES, 4, missing[i]) for i in range(n)] == [
        reference_ranking(values[i], 4, missing[i]) for i in range(n)
    ]
    assert any(r and r[0].code == INSUFFICIENT_INFORMATION[0] for r in batch)  # the pooled path ran


def test_batch_ranking_checks_the_shape():
    with pytest.raises(ValueError, match="shape"):
        top_reasons_batch(np.zeros((3, len(NAMES) + 1)), NAMES, 4)

"""Reason ranking: only pushes toward default, never a missing feature by name, texts that are true."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.features import CATEGORICAL_LEVELS, MODEL_FEATURES, Kind, feature_names
from credit_scoring.reasons import (
    INSUFFICIENT_INFORMATION,
    LEVEL_TEXT,
    REASON_CODES,
    RETIRED_CODES,
    Reason,
    missing_text,
    reason_dicts_batch,
    top_reasons,
    top_reasons_batch,
)

NAMES = feature_names()


def reference_ranking(
    row: np.ndarray, limit: int, missing: np.ndarray | None = None, values: np.ndarray | None = None
) -> list[Reason]:
    """The ranking rules written as plainly as possible, one feature at a time."""
    candidates: list[Reason] = []
    pooled, pooled_names = 0.0, []
    for j, value in enumerate(row.tolist()):
        if missing is not None and missing[j]:
            pooled += value  # net: every missing feature, whichever way it pushed
            pooled_names.append(NAMES[j])
            continue
        if not value > 0.0:
            continue
        code, text = REASON_CODES[NAMES[j]]
        if values is not None and NAMES[j] in LEVEL_TEXT:
            text = f"{text}: {LEVEL_TEXT[NAMES[j]][CATEGORICAL_LEVELS[NAMES[j]][int(values[j])]]}"
        candidates.append(Reason(code, text, NAMES[j], value))
    if pooled_names and pooled > 0.0:
        candidates.append(Reason("R00", missing_text(pooled_names), ",".join(pooled_names), pooled))
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
    # The text names what is missing (the ratio is missing because income is: named once).
    assert pooled.text == "Insufficient information on file: income"
    assert "income" not in [r.feature for r in reasons[1:]]


def test_missing_features_are_pooled_by_their_net_contribution():
    """A missing value that lowered the risk offsets one that raised it: R00 is what the missing
    information did to this applicant as a whole, not only its harmful half."""
    missing = np.zeros(len(NAMES), dtype=bool)
    missing[[NAMES.index("income"), NAMES.index("assets")]] = True
    net_up = top_reasons(_row(income=0.5, assets=-0.2, amount=0.1), NAMES, 4, missing)
    assert net_up[0].code == "R00"
    assert net_up[0].contribution == pytest.approx(0.3)
    assert net_up[0].text == "Insufficient information on file: income, assets"
    net_down = top_reasons(_row(income=0.2, assets=-0.5, amount=0.1), NAMES, 4, missing)
    assert [r.code for r in net_down] == [REASON_CODES["amount"][0]]


def test_missing_feature_that_lowered_risk_is_not_a_reason():
    row = _row(income=-0.4, amount=0.5)
    missing = np.zeros(len(NAMES), dtype=bool)
    missing[NAMES.index("income")] = True
    assert [r.feature for r in top_reasons(row, NAMES, 4, missing)] == ["amount"]


def test_missing_text_names_ratios_only_when_their_inputs_are_present():
    assert missing_text(["income", "instalment_to_income", "debt_to_income"]) == (
        "Insufficient information on file: income"
    )
    # An income of zero leaves the ratios undefined while income itself is on file.
    assert missing_text(["debt_to_income", "expense_ratio"]) == (
        "Insufficient information on file: debt or income, expenses or income"
    )
    assert missing_text(["assets", "net_worth", "job"]) == (
        "Insufficient information on file: assets, type of employment"
    )


@pytest.mark.parametrize("name", sorted(LEVEL_TEXT))
def test_categorical_reasons_name_the_applicants_own_category(name):
    """home and job cannot carry a monotone constraint, so "Housing status" alone would say
    nothing: the text names the applicant's own category."""
    for code, level in enumerate(CATEGORICAL_LEVELS[name]):
        values = np.zeros(len(NAMES))
        values[NAMES.index(name)] = code
        (reason,) = top_reasons(_row(**{name: 0.4}), NAMES, 4, values=values)
        assert reason.text == f"{REASON_CODES[name][1]}: {LEVEL_TEXT[name][level]}"
        assert reason.feature == name


def test_numeric_reason_texts_state_the_constrained_direction():
    """Every numeric input is monotone, so its text says which side of it raised the risk."""
    up = ("too high", "too long", "on record")
    down = ("too low", "too short")
    for feature in MODEL_FEATURES:
        text = REASON_CODES[feature.name][1]
        if feature.kind is Kind.CATEGORY:
            assert feature.monotone == 0
            continue
        assert feature.monotone in (1, -1), feature.name
        words = up if feature.monotone == 1 else down
        assert any(w in text for w in words), (feature.name, text)


def test_retired_codes_are_never_given():
    given = {code for code, _ in REASON_CODES.values()} | {INSUFFICIENT_INFORMATION[0]}
    assert {"R03", "R11"} <= set(RETIRED_CODES)
    assert not given & set(RETIRED_CODES)
    assert "age" not in REASON_CODES


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
    levels = np.zeros((n, len(NAMES)))
    for name, kept in CATEGORICAL_LEVELS.items():
        if name in NAMES:
            levels[:, NAMES.index(name)] = rng.integers(0, len(kept), n)
    for limit in (1, 4):
        batch = top_reasons_batch(values, NAMES, limit, missing, levels)
        dicts = reason_dicts_batch(values, NAMES, limit, missing, levels)
        rows = [reference_ranking(values[i], limit, missing[i], levels[i]) for i in range(n)]
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

"""Score scaling (points to double the odds) and the decision policy."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.scaling import Decision, RiskBand, ScorePolicy, ScoreScale

POLICY = ScorePolicy(
    approve_min_score=620,
    decline_below_score=560,
    bands=(
        RiskBand(name="A", min_score=660),
        RiskBand(name="B", min_score=600),
        RiskBand(name="C", min_score=0),
    ),
)


def test_base_odds_give_base_score_and_pdo_doubles_the_odds():
    scale = ScoreScale(base_score=600, base_odds=50, pdo=20)
    pd_at_base = 1 / 51  # good:bad odds of 50:1
    assert scale.score(pd_at_base) == pytest.approx(600)
    # Twice the odds of being good, 20 points more.
    assert scale.score(1 / 101) == pytest.approx(620)


def test_score_from_margin_equals_score_from_pd():
    margin = np.linspace(-6, 4, 21)
    scale = ScoreScale()
    np.testing.assert_allclose(
        scale.score_from_margin(margin), scale.score(1 / (1 + np.exp(-margin))), atol=1e-6
    )
    np.testing.assert_allclose(
        scale.pd(scale.score_from_margin(margin)), 1 / (1 + np.exp(-margin)), atol=1e-12
    )


def test_cut_offs_decide():
    assert POLICY.decide(np.array([700.0, 620.0, 600.0, 559.9])) == [
        Decision.APPROVE,
        Decision.APPROVE,
        Decision.REFER,
        Decision.DECLINE,
    ]


def test_thin_files_get_the_policy_decision_whatever_the_score():
    decisions = POLICY.decide(np.array([700.0, 500.0, 500.0]), thin_file=np.array([True, True, False]))
    assert decisions == [Decision.REFER, Decision.REFER, Decision.DECLINE]


def test_bands_from_best_to_worst():
    assert POLICY.band(np.array([700.0, 660.0, 659.0, 10.0])) == ["A", "A", "B", "C"]


@pytest.mark.parametrize(
    ("approve", "decline", "bands", "message"),
    [
        (500, 600, (("A", 0),), "decline_below_score"),
        (600, 500, (("B", 0), ("A", 600)), "ordered"),
        (600, 500, (), "non-empty"),
    ],
)
def test_inconsistent_policies_are_refused(approve, decline, bands, message):
    with pytest.raises(ValueError, match=message):
        ScorePolicy(
            approve_min_score=approve,
            decline_below_score=decline,
            bands=tuple(RiskBand(name=n, min_score=m) for n, m in bands),
        )

"""Score scaling (points to double the odds), the decision rule, and the rows it asks the
predictor to explain."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.explain import ExplainRows
from credit_scoring.policy import Decision, RiskBand, ScorePolicy, needs_reasons, thin_file
from credit_scoring.scaling import ScoreScale

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


def test_thin_file_is_no_profile_in_the_online_store():
    assert thin_file(np.array([True, False])).tolist() == [False, True]


@pytest.mark.parametrize("thin_decision", list(Decision))
@pytest.mark.parametrize("seed", range(5))
def test_the_rows_asked_to_explain_cover_every_row_that_needs_reasons(thin_decision, seed):
    """The predictor applies ``explain_rows`` to the margins it computes; whatever those are,
    every row the decision rule refers or declines must come back explained."""
    rng = np.random.default_rng(seed)
    policy = POLICY.model_copy(update={"thin_file_decision": thin_decision})
    margin = np.concatenate([rng.normal(-3, 2, size=2000), [policy.explain_margin_above() + 1e-9]])
    # Margins a hair either side of the cut-off, where float rounding decides.
    cut = (policy.scale.offset - policy.approve_min_score) / policy.scale.factor
    margin = np.concatenate([margin, cut + np.array([-1e-12, 0.0, 1e-12, -1e-7, 1e-7])])
    margin = margin.astype(np.float32).astype(np.float64)  # as the booster gives it
    thin = rng.random(margin.size) < 0.1
    decisions = policy.decide(policy.scale.score_from_margin(margin), thin)
    owed = needs_reasons(decisions)
    explained = policy.explain_rows(thin, "3").select(margin, "3")
    assert not (owed & ~explained).any()
    if thin_decision is not Decision.APPROVE:
        assert explained[thin].all()
    # A superset, but a tight one: approved rows with a clear margin are not explained.
    assert not explained[(margin < cut - 1e-6) & ~thin].any()


def test_explain_rows_travel_as_v2_parameters():
    explain = POLICY.explain_rows(np.array([False, True]), "3")
    parameters = explain.parameters()
    assert parameters == {"explain_margin_above": explain.margin_above, "explain_for_version": "3"}
    assert explain.rows is not None
    back = ExplainRows.from_parameters(parameters, explain.rows)
    assert (back.margin_above, back.for_version, back.rows.tolist()) == (
        explain.margin_above,
        "3",
        [False, True],
    )  # type: ignore[union-attr]
    assert ExplainRows.from_parameters({"pred_contribs": True}).all
    assert not ExplainRows.from_parameters({}).any

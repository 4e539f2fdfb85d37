"""Cut-off selection and the metrics, on data whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_scoring.audit import AGE_BANDS, adverse_impact, age_bands, min_air
from credit_scoring.policy import Decision, ScorePolicy
from training.evaluation import AIR_THRESHOLD, discrimination, fairness
from training.policy import PolicyTargets, choose_policy


@pytest.fixture(scope="module")
def validation():
    rng = np.random.default_rng(3)
    pd_ = rng.beta(2, 5, 5000)
    y = (rng.random(5000) < pd_).astype(float)  # calibrated by construction
    return pd_, y


@pytest.mark.parametrize("approve_target", [0.05, 0.10, 0.15])
def test_approved_population_meets_its_default_rate_target(validation, approve_target):
    pd_, y = validation
    policy = choose_policy(pd_, y, PolicyTargets(approve_max_default_rate=approve_target))
    score = policy.scale.score(pd_)
    approved = np.array([d is Decision.APPROVE for d in policy.decide(score)])
    assert y[approved].mean() <= approve_target + 1e-9
    # The cut-off is the loosest that meets the target: one point lower breaks it (or adds no one).
    looser = score >= policy.approve_min_score - 1
    assert looser.sum() == approved.sum() or y[looser].mean() > approve_target - 0.01


def test_declined_population_meets_its_default_rate_target(validation):
    pd_, y = validation
    targets = PolicyTargets()
    policy = choose_policy(pd_, y, targets)
    declined = np.array([d is Decision.DECLINE for d in policy.decide(policy.scale.score(pd_))])
    assert declined.any()
    assert y[declined].mean() >= targets.decline_min_default_rate
    assert policy.decline_below_score <= policy.approve_min_score


def test_bands_split_validation_into_quintiles(validation):
    pd_, y = validation
    policy = choose_policy(pd_, y, PolicyTargets())
    shares = pd.Series(policy.band(policy.scale.score(pd_))).value_counts(normalize=True)
    assert list(b.name for b in policy.bands) == ["A", "B", "C", "D", "E"]
    assert shares.between(0.18, 0.22).all()
    # The policy round-trips through JSON, as it travels in MLflow metadata and tags.
    assert ScorePolicy.model_validate_json(policy.model_dump_json()) == policy


def test_discrimination_metrics_on_a_known_case():
    y = np.array([0, 0, 1, 1])
    perfect = discrimination(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect["auc"] == 1.0
    assert perfect["gini"] == 1.0
    assert perfect["ks"] == 1.0
    assert perfect["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    inverted = discrimination(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert inverted["gini"] == -1.0


def test_adverse_impact_ratio_against_most_approved_group():
    groups = pd.Series(["a"] * 100 + ["b"] * 100 + ["tiny"] * 5)
    approved = np.array([True] * 80 + [False] * 20 + [True] * 50 + [False] * 50 + [False] * 5)
    table = fairness(groups, approved).set_index("group")
    assert table.at["a", "air"] == pytest.approx(1.0)
    assert table.at["b", "air"] == pytest.approx(0.5 / 0.8)
    assert AIR_THRESHOLD == 0.8
    assert bool(table.at["b", "flagged"])  # 0.625 < 0.8
    # Groups too small to act on are reported, never flagged.
    assert table.at["tiny", "air"] == 0.0
    assert not table.at["tiny", "flagged"]


def test_age_bands_separate_applicants_62_and_over():
    """Regulation B protects 62+: the audit must be able to see that band on its own."""
    bands = age_bands([18, 24, 25, 44, 55, 61, 62, 80, None, float("nan"), 17])
    assert bands == ["18-24", "18-24", "25-34", "35-44", "55-61", "55-61", "62+", "62+", None, None, None]
    assert AGE_BANDS[-1][:2] == ("62+", 62)


def test_unknown_group_is_neither_reference_nor_minimum():
    groups = ["a"] * 100 + ["b"] * 100 + [None] * 100
    approved = np.array([True] * 60 + [False] * 40 + [True] * 50 + [False] * 50 + [True] * 100)
    rates = {r.group: r for r in adverse_impact(groups, approved)}
    assert rates["a"].air == pytest.approx(1.0)  # not the all-approved unknown group
    assert min_air(list(rates.values())) == pytest.approx(0.5 / 0.6)

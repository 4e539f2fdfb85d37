"""The calibration gate's tests and the bootstrap intervals, on data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from credit_scoring.scaling import ScoreScale
from training.bootstrap import metric_intervals, paired_bootstrap, weighted_auc
from training.calibration import band_intervals, check_calibration, hosmer_lemeshow
from training.policy import PolicyTargets, choose_policy


@pytest.fixture(scope="module")
def calibrated():
    rng = np.random.default_rng(11)
    pd_ = rng.beta(2, 5, 4000)
    y = (rng.random(4000) < pd_).astype(float)  # calibrated by construction
    return pd_, y


def test_a_calibrated_model_mostly_passes_and_a_miscalibrated_one_always_fails():
    """Five bands are five 95% tests: a perfectly calibrated model still fails one of them in up to
    1 - 0.95^5 = 23% of samples (the strictness docs/model.md states); half the true risk never
    passes."""
    rng = np.random.default_rng(11)
    passed = failed_halved = 0
    samples = 100
    for _ in range(samples):
        pd_ = rng.beta(2, 5, 900)
        y = (rng.random(900) < pd_).astype(float)  # calibrated by construction
        policy = choose_policy(pd_, y, PolicyTargets())
        passed += check_calibration(y, pd_, policy.scale.score(pd_), policy).passed
        halved = check_calibration(y, pd_ * 0.5, policy.scale.score(pd_ * 0.5), policy)
        failed_halved += not halved.passed and halved.hl_p < 0.05
    assert passed / samples >= 0.70, passed
    assert passed < samples  # and the documented false alarms do happen
    assert failed_halved == samples


def test_the_problems_name_the_band_and_the_test(calibrated):
    pd_, y = calibrated
    policy = choose_policy(pd_, y, PolicyTargets())
    halved = pd_ * 0.5
    bad = check_calibration(y, halved, policy.scale.score(halved), policy)
    assert not bad.passed
    assert bad.hl_p < 1e-6
    assert any(p.startswith("band ") and "outside" in p for p in bad.problems)
    assert any("Hosmer-Lemeshow" in p for p in bad.problems)
    assert bad.as_dict()["bands"][0]["band"] == "A"


def test_band_interval_is_the_binomial_95_percent_range():
    y = np.array([1.0] * 10 + [0.0] * 90)
    pd_ = np.full(100, 0.10)
    (row,) = band_intervals(y, pd_, ["A"] * 100, ["A"]).to_dict(orient="records")
    assert row["count"] == 100
    assert row["observed_default_rate"] == pytest.approx(0.10)
    assert row["interval_low"] == pytest.approx(0.05)  # binom.ppf(0.025, 100, 0.1) = 5
    assert row["interval_high"] == pytest.approx(0.16)  # binom.ppf(0.975, 100, 0.1) = 16
    assert row["inside"]
    y_far = np.array([1.0] * 20 + [0.0] * 80)
    assert not band_intervals(y_far, pd_, ["A"] * 100, ["A"])["inside"].iloc[0]


def test_hosmer_lemeshow_degrees_of_freedom(calibrated):
    pd_, y = calibrated
    statistic, dof, p = hosmer_lemeshow(y, pd_)
    assert dof == 8
    assert statistic >= 0
    assert 0 <= p <= 1


def test_weighted_auc_is_the_auc(calibrated):
    pd_, y = calibrated
    assert weighted_auc(y, pd_, np.ones((1, len(y))))[0] == pytest.approx(roc_auc_score(y, pd_))
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, len(y))
    repeated = np.repeat(np.arange(len(y)), counts)
    assert weighted_auc(y, pd_, counts[None, :].astype(float))[0] == pytest.approx(
        roc_auc_score(y[repeated], pd_[repeated])
    )
    # Ties count half, as in the rank formula.
    assert weighted_auc(np.array([0, 1]), np.array([0.5, 0.5]), np.ones((1, 2)))[0] == 0.5


def _outcomes(pd_: np.ndarray) -> dict[str, np.ndarray]:
    score = ScoreScale().score(pd_)
    return {"approve": score >= 560, "approve_or_refer": score >= 540}


def test_paired_bootstrap_of_a_model_against_itself_is_exactly_zero(calibrated):
    pd_, y = calibrated
    groups = {"g": ["a" if i % 3 else "b" for i in range(len(y))]}
    same = paired_bootstrap(y, pd_, pd_, groups, _outcomes(pd_), _outcomes(pd_), replicates=50)
    for interval in (same.auc, same.air_approve, same.air_approve_or_refer):
        assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_sees_a_real_difference(calibrated):
    pd_, y = calibrated
    rng = np.random.default_rng(3)
    noisy = np.clip(pd_ + rng.normal(0, 0.25, len(pd_)), 0.001, 0.999)  # a much worse ranker
    groups = {"g": ["a" if i % 3 else "b" for i in range(len(y))]}
    diff = paired_bootstrap(y, pd_, noisy, groups, _outcomes(pd_), _outcomes(noisy), replicates=200)
    assert diff.auc.estimate < 0
    assert diff.auc.high < 0  # the interval excludes zero: the loss is real
    assert diff.auc.low <= diff.auc.estimate <= diff.auc.high


def test_metric_intervals_bracket_the_estimates(calibrated):
    pd_, y = calibrated
    groups = {"g": ["a" if i % 3 else "b" for i in range(len(y))]}
    found = metric_intervals(y, pd_, groups, _outcomes(pd_), replicates=200)
    assert found["auc"].estimate == pytest.approx(roc_auc_score(y, pd_))
    assert found["gini"].estimate == pytest.approx(2 * found["auc"].estimate - 1)
    for interval in found.values():
        assert interval.low <= interval.estimate <= interval.high
    for name in ("auc", "gini", "ks"):
        assert found[name].high - found[name].low < 0.1, name

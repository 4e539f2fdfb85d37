"""The registration gate's rules, and what a fairness exception may and may not waive."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from governance.age_check import AgeCheckResult
from governance.exception import FairnessException
from governance.gate import GateEvidence, decide

TODAY = dt.date(2026, 11, 30)


def _age(passed: bool = True) -> AgeCheckResult:
    return AgeCheckResult(
        passed=passed,
        applicants=400,
        ages=(18, 90),
        penalised=0 if passed else 37,
        worst_points=0.0 if passed else 13.5,
        worst_example=None
        if passed
        else {"elderly_age": 65, "elderly_score": 500.0, "best_age": 33, "best_score": 513.5},
        version="7",
    )


def _evidence(**changes: object) -> GateEvidence:
    base = GateEvidence(
        model_name="credit-risk",
        version="7",
        min_air=0.65,
        air_by_attribute={"age_band": 0.65, "marital": 0.80},
        champion_version=None,
        champion_min_air=None,
        calibration_problems=[],
        hosmer_lemeshow_p=0.34,
        age_check=_age(),
        stability=0.95,
        stability_threshold=0.80,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _exception(**changes: object) -> FairnessException:
    values = {
        "model_name": "credit-risk",
        "air_floor": 0.6,
        "business_justification": "No candidate of the documented search reaches 0.8 inside the credit "
        "policy; the youngest band's observed default rate is the highest.",
        "signer": "Head of Credit Risk",
        "date": dt.date(2026, 11, 1),
        "expiry": dt.date(2027, 11, 1),
    }
    return FairnessException.model_validate({**values, **changes})


def _failed(decision) -> set[str]:
    return {c.name for c in decision.failed}


def test_air_below_four_fifths_is_refused_without_an_exception():
    decision = decide(_evidence(), None, TODAY)
    assert not decision.accepted
    assert decision.status == "refused"
    assert _failed(decision) == {"fairness_threshold"}


def test_a_fair_calibrated_version_is_accepted_without_an_exception():
    decision = decide(
        _evidence(min_air=0.85, air_by_attribute={"age_band": 0.85, "marital": 0.9}), None, TODAY
    )
    assert decision.accepted
    assert decision.status == "accepted"


def test_a_valid_exception_waives_the_fairness_checks_only_and_says_so():
    decision = decide(_evidence(), _exception(), TODAY)
    assert decision.accepted
    assert decision.exception_applied
    assert decision.status == "accepted with fairness exception"
    waived = {c.name for c in decision.checks if c.waived}
    assert waived == {"fairness_threshold"}
    assert any("FAIRNESS EXCEPTION APPLIED" in line for line in decision.lines())


@pytest.mark.parametrize(
    ("evidence", "check"),
    [
        (
            {"calibration_problems": ["band C: observed default rate 0.290 outside [0.128, 0.240]"]},
            "calibration_bands",
        ),
        ({"hosmer_lemeshow_p": 0.01}, "calibration_hosmer_lemeshow"),
        ({"age_check": _age(passed=False)}, "regulation_b_age"),
        ({"stability": 0.6}, "reason_stability"),
    ],
)
def test_an_exception_never_waives_calibration_age_or_stability(evidence, check):
    decision = decide(_evidence(**evidence), _exception(), TODAY)
    assert not decision.accepted
    assert check in _failed(decision)
    assert "fairness_threshold" not in _failed(decision)  # that one is still waived


@pytest.mark.parametrize(
    ("exception", "problem"),
    [
        ({"air_floor": 0.7}, "below the accepted floor 0.7"),
        ({"expiry": dt.date(2026, 11, 29)}, "expired on 2026-11-29"),
        ({"model_name": "other-model"}, "covers model 'other-model'"),
        ({"date": dt.date(2026, 12, 1), "expiry": dt.date(2027, 1, 1)}, "after today"),
    ],
)
def test_an_exception_that_does_not_apply_leaves_the_version_refused(exception, problem):
    decision = decide(_evidence(), _exception(**exception), TODAY)
    assert not decision.accepted
    assert not decision.exception_applied
    assert any(problem in p for p in decision.exception_problems), decision.exception_problems
    assert "fairness_threshold" in _failed(decision)


def test_worse_than_the_champion_by_more_than_two_points_fails_fairness():
    near = decide(_evidence(min_air=0.85, champion_version="3", champion_min_air=0.86), None, TODAY)
    assert near.accepted  # 0.01 worse: within the margin
    far = decide(_evidence(min_air=0.85, champion_version="3", champion_min_air=0.88), None, TODAY)
    assert _failed(far) == {"fairness_vs_champion"}
    # The exception waives it too (at or above its floor).
    assert decide(
        _evidence(min_air=0.85, champion_version="3", champion_min_air=0.88), _exception(), TODAY
    ).accepted


def test_the_decision_serialises_for_the_registry():
    record = decide(_evidence(), _exception(), TODAY).as_dict()
    assert record["status"] == "accepted with fairness exception"
    assert record["exception"]["signer"] == "Head of Credit Risk"
    assert {c["name"] for c in record["checks"]} == {
        "fairness_threshold",
        "fairness_vs_champion",
        "calibration_bands",
        "calibration_hosmer_lemeshow",
        "regulation_b_age",
        "reason_stability",
    }

"""Reason stability: the first adverse-action reason of the same applicants across two seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from credit_scoring.reasons import REASON_CODES
from training.dataset import Split, training_frame
from training.model import ModelConfig, fit
from training.pipeline import fit_model
from training.policy import PolicyTargets
from training.stability import STABILITY_THRESHOLD, ReasonStability, principal_reasons, reason_stability


@pytest.fixture(scope="module")
def trained(credit_env):
    return fit_model(
        training_frame(credit_env.store, credit_env.applications), ModelConfig(), PolicyTargets()
    )


def test_the_registered_configuration_gives_stable_first_reasons(trained, credit_env):
    result = reason_stability(trained.booster, trained.policy, trained.config, trained.split)
    assert result.seeds == (42, 43)
    assert result.applicants > 200  # the referred and declined validation applicants
    assert result.passed
    assert result.agreement >= STABILITY_THRESHOLD
    disagreements = round((1 - result.agreement) * result.applicants)
    assert sum(result.changed.values()) == disagreements
    # The session version was gated on the same measurement.
    assert credit_env.training.stability.passed
    check = {c.name: c for c in credit_env.training.gate.checks}["reason_stability"]
    assert check.passed


def test_the_check_sees_reasons_that_depend_on_the_model_not_the_applicant(trained):
    """A model fitted on a different footing (no arrears record, no income information) gives
    other first reasons to the same applicants: an agreement far below the threshold fails."""
    split: Split = trained.split
    x_train, x_valid = Split.matrix(split.train), Split.matrix(split.valid)
    other_config = dataclasses.replace(trained.config, dropped=("records", "income", "instalment_to_income"))
    other = fit(x_train, Split.labels(split.train), x_valid, Split.labels(split.valid), other_config)
    rows = x_valid[:300]
    first = principal_reasons(trained.booster, rows, 4)
    second = principal_reasons(other, rows, 4)
    agreement = float(np.mean([a == b for a, b in zip(first, second, strict=True)]))
    assert REASON_CODES["records"][0] in first  # the arrears record leads for many applicants
    result = ReasonStability(agreement, len(rows), (42, 42))
    assert not result.passed
    assert principal_reasons(trained.booster, rows, 4) == first  # deterministic for one model


def test_principal_reasons_are_the_served_ranking(trained):
    rows = Split.matrix(trained.split.valid)[:50]
    codes = principal_reasons(trained.booster, rows, 4)
    assert all(c is None or c == "R00" or c in {v[0] for v in REASON_CODES.values()} for c in codes)

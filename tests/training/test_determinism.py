"""Same data, same model: the booster is reproducible byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from training.dataset import training_frame
from training.model import ModelConfig
from training.pipeline import fit_model
from training.policy import PolicyTargets


def _digest(booster) -> str:
    return hashlib.sha256(bytes(booster.save_raw("ubj"))).hexdigest()


@pytest.fixture(scope="module")
def frame(credit_env):
    return training_frame(credit_env.store, credit_env.applications)


def _winner_config(credit_env) -> ModelConfig:
    """The configuration the session's search picked (its row of the search table)."""
    row = credit_env.training.search_table.query("winner").iloc[0]
    return ModelConfig(
        dropped=() if row["dropped"] == "none" else tuple(row["dropped"].split(",")),
        max_depth=int(row["max_depth"]),
        min_child_weight=float(row["min_child_weight"]),
        interactions=row["interactions"] == "allowed",
    )


def test_same_data_same_model(credit_env, frame):
    config = _winner_config(credit_env)
    first = fit_model(frame, config, PolicyTargets())
    again = fit_model(training_frame(credit_env.store, credit_env.applications), config, PolicyTargets())
    assert _digest(first.booster) == _digest(again.booster)
    assert first.policy == again.policy
    assert first.evaluation.metrics == again.evaluation.metrics
    # ... and it is the model the session registered (same data, the search winner's settings).
    assert first.evaluation.metrics["auc"] == credit_env.training.test_metrics["auc"]
    assert first.policy == credit_env.policy


def test_the_seed_is_what_varies_the_model(frame):
    base = fit_model(frame, ModelConfig(), PolicyTargets())
    other = fit_model(frame, ModelConfig(seed=7), PolicyTargets())
    assert _digest(base.booster) != _digest(other.booster)

"""Governance of registered versions against the real MLflow (PostgreSQL + S3) and Feast registry:
the Regulation B age check (it fails a planted model that penalises age), lineage, the model card."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import mlflow
import mlflow.xgboost
import numpy as np
import pytest
import xgboost as xgb
from mlflow import MlflowClient

from credit_scoring.features import feature_names, feature_types, monotone_constraints
from governance.age_check import check_age
from governance.gate import GateEvidence, decide
from governance.lineage import frame_sha256
from governance.model_card import model_card
from governance.version import VersionScorer, version_matrix
from tests.credit_env import fairness_exception_for
from training.dataset import Split, split_out_of_time, training_frame
from training.registry import RegisteredModel, apply_gate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame(credit_env):
    return training_frame(credit_env.store, credit_env.applications)


@pytest.fixture(scope="module")
def split(frame) -> Split:
    return split_out_of_time(frame)


@pytest.fixture(scope="module")
def applicants(split):
    return split.test.sample(n=150, random_state=1).reset_index(drop=True)


def _register_with_age(credit_env, split: Split, age_direction: int) -> tuple[str, str]:
    """A booster that takes ``age`` as an input (PD rising with it when ``age_direction`` is +1,
    falling when -1), registered like any version: what the check must catch through the path."""
    names = [*feature_names(), "age"]
    train = split.train
    x = version_matrix({c: train[c].tolist() for c in train.columns}, names, len(train))
    y = Split.labels(train).copy()
    rng = np.random.default_rng(0)
    if age_direction > 0:
        # Planted: applicants 62+ labelled as defaulting far more often than they did.
        y[(train["age"].to_numpy() >= 62) & (rng.random(len(train)) < 0.8)] = 1.0
    dtrain = xgb.DMatrix(
        x, label=y, feature_names=names, feature_types=[*feature_types(), "int"], enable_categorical=True
    )
    params = {
        "objective": "binary:logistic",
        "max_depth": 3,
        "eta": 0.1,
        "monotone_constraints": "("
        + ",".join(str(c) for c in (*monotone_constraints(), age_direction))
        + ")",
        "seed": 1,
        "nthread": 1,
    }
    booster = xgb.train(params, dtrain, num_boost_round=80)
    name = f"credit-risk-age-{'penalty' if age_direction > 0 else 'reward'}-{uuid.uuid4().hex[:6]}"
    mlflow.set_tracking_uri(credit_env.tracking_uri)
    with mlflow.start_run(run_name=name):
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            model_format="ubj",
            pip_requirements=["xgboost"],  # no requirement inference (a subprocess, seconds)
            metadata={"credit_policy": credit_env.policy.model_dump_json(), "feature_names": names},
        )
    version = str(mlflow.register_model(info.model_uri, name).version)
    return name, version


def test_the_age_check_fails_a_registered_model_that_penalises_age(credit_env, split, applicants):
    name, version = _register_with_age(credit_env, split, +1)
    scorer = VersionScorer.load(credit_env.tracking_uri, name, version)
    assert "age" in scorer.feature_names
    result = check_age(scorer, credit_env.store, applicants)
    assert not result.passed
    assert result.penalised > len(applicants) // 2
    assert result.worst_points > 1.0
    example = result.worst_example
    assert example is not None
    assert example["elderly_age"] >= 62
    assert example["best_age"] < example["elderly_age"]
    assert "score lower at some age 62+" in result.message()

    # The gate refuses it even under a valid fairness exception: age is never waived.
    session = credit_env.training.gate
    evidence = GateEvidence(
        model_name=name,
        version=version,
        min_air=0.7,
        air_by_attribute={"age_band": 0.7, "marital": 0.9},
        champion_version=None,
        champion_min_air=None,
        calibration_problems=[],
        hosmer_lemeshow_p=0.5,
        age_check=result,
        stability=0.95,
        stability_threshold=0.8,
    )
    decision = decide(evidence, fairness_exception_for(name))
    assert not decision.accepted
    assert [c.name for c in decision.failed] == ["regulation_b_age"]
    registered = RegisteredModel(name, version, [], scorer.run_id, "", f"models:/{name}/{version}", "")
    assert apply_gate(credit_env.tracking_uri, registered, decision.accepted).aliases == []
    assert MlflowClient(tracking_uri=credit_env.tracking_uri).get_registered_model(name).aliases == {}
    assert session.accepted  # the session's own version went through the same gate


def test_a_model_that_uses_age_without_penalising_62_plus_passes(credit_env, split, applicants):
    """The check is about the penalty, not about the column: PD falling with age passes."""
    name, version = _register_with_age(credit_env, split, -1)
    result = check_age(
        VersionScorer.load(credit_env.tracking_uri, name, version), credit_env.store, applicants
    )
    assert result.passed, result.message()


def test_the_session_version_passed_the_age_check_through_the_serving_path(credit_env, applicants):
    scorer = VersionScorer.load(credit_env.tracking_uri, credit_env.model_name, credit_env.model_version)
    assert "age" not in scorer.feature_names
    result = check_age(scorer, credit_env.store, applicants)
    assert result.passed
    assert result.penalised == 0
    check = {c.name: c for c in credit_env.training.gate.checks}["regulation_b_age"]
    assert check.passed


def test_every_version_records_its_code_commit_and_training_data_hash(credit_env, frame):
    tags = (
        MlflowClient(tracking_uri=credit_env.tracking_uri)
        .get_model_version(credit_env.model_name, credit_env.model_version)
        .tags
    )
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert tags["code_commit"] == head
    assert tags["code_dirty"] in ("true", "false")
    assert tags["training_data_sha256"] == frame_sha256(frame)
    changed = frame.copy()
    changed.loc[0, "income"] = changed.loc[0, "income"] + 1
    assert frame_sha256(changed) != tags["training_data_sha256"]
    assert frame_sha256(frame.sample(frac=1.0, random_state=0)) != tags["training_data_sha256"]


def test_the_model_card_is_built_from_the_registry(credit_env, tmp_path):
    card = model_card(credit_env.tracking_uri, credit_env.model_name, credit_env.model_version)
    md = card.markdown
    for expected in (
        f"# Model card: {credit_env.model_name} v{credit_env.model_version}",
        "## Intended use and limits",
        "Definition of default",
        "Performance window",
        "Timeline: Synthetic",
        "## Features and constraints",
        "95% bootstrap intervals",
        "## Calibration",
        "| 62+ |",
        "## Search for a less discriminatory alternative",
        "## Regulation B age check and reason stability",
        "## Adverse-action reason codes",
        "FAIRNESS EXCEPTION IN FORCE",
    ):
        assert expected in md, expected
    assert "R03" in md
    assert "retired" in md.lower()
    assert card.html.startswith("<!doctype html>")
    assert "class='warning'" in card.html
    # The card logged with the version is this card (the aliases line aside, it is rebuilt).
    logged = mlflow.artifacts.download_artifacts(
        run_id=credit_env.training.registered.run_id,
        artifact_path="model_card/model_card.md",
        tracking_uri=credit_env.tracking_uri,
    )
    assert Path(logged).read_text().splitlines()[4:] == md.splitlines()[4:]
    md_path, html_path = card.write(tmp_path)
    assert md_path.read_text() == md
    assert html_path.read_text() == card.html


def test_the_version_scorer_scores_like_the_training_job(credit_env, split):
    scorer = VersionScorer.load(credit_env.tracking_uri, credit_env.model_name, credit_env.model_version)
    test = split.test
    scores = scorer.scores({c: test[c].tolist() for c in test.columns}, len(test))
    booster = mlflow.xgboost.load_model(f"models:/{credit_env.model_name}/{credit_env.model_version}")
    from training.model import predict_pd

    expected = credit_env.policy.scale.score(predict_pd(booster, Split.matrix(test)))
    np.testing.assert_allclose(scores, expected, atol=1e-3)
    assert scorer.policy == credit_env.policy

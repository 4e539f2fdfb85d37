"""Training end to end against the real MLflow server (PostgreSQL backend, S3 artifacts on moto).

The session ``credit_env`` trained and registered ``credit-risk`` v1. Everything a consumer
needs must be in the registry and in S3, and the model must load back as a native Booster.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import mlflow.xgboost
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow import MlflowClient

from credit_scoring.features import FEATURE_SERVICE, feature_names, feature_types
from credit_scoring.policy import ScorePolicy
from tests.conftest import S3_BUCKET
from training.dataset import Split, split_out_of_time, training_frame
from training.pipeline import REFERENCE_COLUMNS


@pytest.fixture(scope="module")
def client(credit_env) -> MlflowClient:
    mlflow.set_tracking_uri(credit_env.tracking_uri)
    return MlflowClient(tracking_uri=credit_env.tracking_uri)


@pytest.fixture(scope="module")
def version(client, credit_env):
    return client.get_model_version_by_alias(credit_env.model_name, "champion")


@pytest.fixture(scope="module")
def s3_keys(credit_env) -> list[str]:
    s3 = credit_env.mlflow.s3.client()
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_champion_is_the_session_model(version, credit_env):
    assert version.version == credit_env.model_version
    assert sorted(version.aliases) == ["challenger", "champion"]


def test_test_metrics_are_logged_and_good_enough(client, credit_env):
    run = client.get_run(credit_env.training.registered.run_id)
    metrics = run.data.metrics
    assert metrics["test_auc"] >= 0.80
    assert metrics["test_gini"] == pytest.approx(2 * metrics["test_auc"] - 1)
    for name in (
        "test_ks",
        "test_brier",
        "test_air_min_age_band",
        "test_air_min_marital",
        "valid_auc",
        "best_iteration",
    ):
        assert name in metrics
    # The registered booster is the search winner: its configuration is the run's params.
    winner = credit_env.training.search_table.query("winner").iloc[0]
    assert run.data.params["max_depth"] == str(winner["max_depth"])
    assert run.data.params["dropped"] == winner["dropped"]
    assert run.data.params["search_winner"] == credit_env.training.search["winner"]
    assert run.data.params["feature_service"] == FEATURE_SERVICE


def test_run_artifacts_are_in_s3(credit_env, s3_keys, client):
    run = client.get_run(credit_env.training.registered.run_id)
    # --no-serve-artifacts: the run points clients at S3 itself, not at an MLflow proxy.
    assert run.info.artifact_uri.startswith(f"s3://{S3_BUCKET}/")
    prefix = run.info.artifact_uri.removeprefix(f"s3://{S3_BUCKET}/")
    run_keys = {k.removeprefix(prefix + "/") for k in s3_keys if k.startswith(prefix)}
    for expected in (
        "plots/roc.png",
        "plots/ks.png",
        "plots/calibration.png",
        "plots/score_distribution.png",
        "reports/training_report.html",
        "reports/fairness_age_band.csv",
        "reports/calibration_by_age_band.csv",
        "reference/reference.parquet",
        "policy/credit_policy.json",
        "evidence/evidence.json",
        "evidence/gate.json",
        "evidence/search.csv",
        "evidence/fairness_exception.yaml",
        "model_card/model_card.md",
        "model_card/model_card.html",
    ):
        assert expected in run_keys


def test_model_files_are_in_s3(version, client, s3_keys):
    logged = mlflow.get_logged_model(version.source.removeprefix("models:/"))
    assert logged.artifact_location.startswith(f"s3://{S3_BUCKET}/")
    prefix = logged.artifact_location.removeprefix(f"s3://{S3_BUCKET}/")
    names = {k.rsplit("/", 1)[-1] for k in s3_keys if k.startswith(prefix)}
    assert {"MLmodel", "model.ubj"} <= names


def test_champion_loads_as_native_booster(credit_env):
    booster = mlflow.xgboost.load_model(f"models:/{credit_env.model_name}@champion")
    assert isinstance(booster, xgb.Booster)
    assert booster.feature_names == feature_names()
    assert booster.feature_types == feature_types()
    # It scores the out-of-time test window as well as training reported.
    split = split_out_of_time(training_frame(credit_env.store, credit_env.applications))
    pd_ = booster.predict(
        xgb.DMatrix(
            Split.matrix(split.test),
            feature_names=feature_names(),
            feature_types=feature_types(),
            enable_categorical=True,
        )
    )
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(Split.labels(split.test), pd_) == pytest.approx(
        credit_env.training.test_metrics["auc"]
    )


def test_policy_in_model_metadata_and_version_tag(credit_env, version):
    info = mlflow.models.get_model_info(f"models:/{credit_env.model_name}@champion")
    metadata = info.metadata
    policy = ScorePolicy.model_validate_json(metadata["credit_policy"])
    assert policy == ScorePolicy.model_validate_json(version.tags["credit_policy"])
    assert policy == credit_env.policy
    assert metadata["feature_names"] == feature_names()
    assert metadata["feature_service"] == FEATURE_SERVICE
    assert policy.decline_below_score <= policy.approve_min_score
    assert (policy.scale.base_score, policy.scale.pdo) == (600, 20)


def test_signature_and_input_example(credit_env):
    info = mlflow.models.get_model_info(f"models:/{credit_env.model_name}@champion")
    assert info.signature.inputs.input_names() == feature_names()
    assert info.saved_input_example_info is not None


def test_reference_sample(credit_env):
    path = mlflow.artifacts.download_artifacts(
        run_id=credit_env.training.registered.run_id, artifact_path="reference/reference.parquet"
    )
    reference = pd.read_parquet(path)
    assert list(reference.columns) == REFERENCE_COLUMNS
    assert len(reference) > 1000
    assert reference["pd"].between(0, 1).all()
    policy = credit_env.policy
    np.testing.assert_allclose(reference["score"], policy.scale.score(reference["pd"].to_numpy()))
    assert set(reference["decision"]) == {"approve", "refer", "decline"}
    assert reference["marital"].notna().sum() > 1000
    # Audit attributes ride along for the drift job's fairness view; never model inputs.
    assert reference["age"].between(18, 100).all()


def test_report_mentions_auc_and_fairness(credit_env):
    path = mlflow.artifacts.download_artifacts(
        run_id=credit_env.training.registered.run_id, artifact_path="reports/training_report.html"
    )
    html = Path(path).read_text(encoding="utf-8")
    assert "adverse-impact ratio" in html
    assert f"{credit_env.training.test_metrics['auc']:.4f}" in html
    assert html.count("data:image/png;base64,") == 4
    # Honest data documentation, the 62+ band, the whole search and the exception, loudly.
    for expected in (
        "Definition of default",
        "Performance window",
        "Timeline: Synthetic",
        "in effect a random split",
        "62+",
        "Search for a less discriminatory alternative",
        "FAIRNESS EXCEPTION IN FORCE",
        "Registration gate: accepted with fairness exception",
    ):
        assert expected in html, expected
    assert html.count("<tr>") > 4 + len(credit_env.training.search_table)
    policy_path = mlflow.artifacts.download_artifacts(
        run_id=credit_env.training.registered.run_id, artifact_path="policy/credit_policy.json"
    )
    policy_json = json.loads(Path(policy_path).read_text())
    assert ScorePolicy.model_validate(policy_json) == credit_env.policy

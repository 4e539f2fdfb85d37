"""The ``credit-scoring`` commands, run as a user runs them (subprocesses, real servers)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow.xgboost
import pytest
import xgboost as xgb
import yaml
from mlflow import MlflowClient

from cli.mlflow_local import LocalMlflow, LocalMlflowError
from tests.credit_env import TEST_SEARCH, fairness_exception_for
from tests.servers import free_port

CLI = [str(Path(sys.executable).parent / "credit-scoring")]


def _run(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDIT_", "MLFLOW_"))}
    return {**env, **extra}


def _search_env(credit_env, name: str) -> dict[str, str]:
    """The session's servers and the session's (small) search, so the metrics are comparable."""
    return _clean_env(
        **credit_env.env(),
        CREDIT_MODEL_NAME=name,
        CREDIT_SEARCH_SIZE=str(TEST_SEARCH.size),
        CREDIT_BOOTSTRAP_REPLICATES=str(TEST_SEARCH.bootstrap_replicates),
    )


def test_train_json_refused_by_the_gate_then_accepted_with_an_exception(credit_env, tmp_path):
    """Without an exception the new version is registered but refused (exit 3, no alias): no
    candidate reaches an AIR of 0.8 on this data. With a signed exception file the same training
    takes challenger and champion, and the exception is stored with the version."""
    name = f"credit-risk-cli-{uuid.uuid4().hex[:6]}"
    env = _search_env(credit_env, name)
    client = MlflowClient(tracking_uri=credit_env.tracking_uri)

    refused = _run(["train", "--json"], env)
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert "refused it the challenger alias" in refused.stderr
    summary = json.loads(refused.stdout)
    assert summary["model_name"] == name
    assert summary["version"] == "1"
    assert summary["aliases"] == []
    assert summary["gate"]["status"] == "refused"
    failed = {c["name"] for c in summary["gate"]["checks"] if not c["passed"] and not c["waived"]}
    assert failed == {"fairness_threshold"}
    assert client.get_model_version(name, "1").aliases == []
    assert client.get_model_version(name, "1").tags["gate_status"] == "refused"
    assert summary["test_metrics"]["auc"] >= 0.80
    assert set(summary["test_metrics"]) >= {
        "auc",
        "gini",
        "ks",
        "brier",
        "air_min_age_band",
        "air_min_marital",
    }
    assert summary["feature_service"] == "credit_model_v1"
    assert [band["band"] for band in summary["calibration_by_band"]] == ["A", "B", "C", "D", "E"]
    assert summary["search"]["evaluated"] == TEST_SEARCH.size
    # Same data and settings as the session model: the same winner and test metrics.
    assert summary["search"]["winner"] == credit_env.training.search["winner"]
    assert summary["test_metrics"]["auc"] == pytest.approx(credit_env.training.test_metrics["auc"], abs=1e-6)

    exception = tmp_path / "exception.yaml"
    record = fairness_exception_for(name).model_dump(mode="json")
    exception.write_text(yaml.safe_dump(record))
    accepted = _run(["train", "--json", "--fairness-exception", str(exception)], env)
    assert accepted.returncode == 0, accepted.stderr[-3000:]
    summary = json.loads(accepted.stdout)
    assert summary["version"] == "2"
    assert summary["gate"]["status"] == "accepted with fairness exception"
    assert summary["aliases"] == ["challenger", "champion"]  # v1 never held champion
    tags = client.get_model_version(name, "2").tags
    assert tags["fairness_exception_signer"] == record["signer"]
    assert tags["fairness_exception_air_floor"] == f"{record['air_floor']:g}"
    stored = mlflow.artifacts.download_artifacts(
        run_id=summary["run_id"],
        artifact_path="evidence/fairness_exception.yaml",
        tracking_uri=credit_env.tracking_uri,
    )
    assert yaml.safe_load(Path(stored).read_text()) == record


def test_train_names_an_invalid_exception_file(credit_env, tmp_path):
    bad = tmp_path / "exception.yaml"
    bad.write_text("model_name: credit-risk\nair_floor: 0.9\nsigner: x\n")
    done = _run(["train", "--fairness-exception", str(bad)], _search_env(credit_env, "never-trained"))
    assert done.returncode == 1
    assert "air_floor" in done.stderr
    assert "business_justification" in done.stderr
    assert "Traceback" not in done.stderr


def test_features_apply_names_missing_placeholders(tmp_path, credit_env):
    env = _clean_env(
        CREDIT_HOME=str(tmp_path),
        CREDIT_DATA_DIR=str(credit_env.data_dir),
        CREDIT_FEATURE_STORE_CONFIG=str(credit_env.feature_store_config),
    )
    done = _run(["features", "apply"], env)
    assert done.returncode == 1
    assert "CREDIT_REDIS_HOST" in done.stderr
    assert "Traceback" not in done.stderr


def test_features_apply_without_data_says_what_to_run(tmp_path):
    done = _run(["features", "apply"], _clean_env(CREDIT_HOME=str(tmp_path)))
    assert done.returncode == 1
    assert "credit-scoring data prepare" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_demo_on_embedded_defaults(tmp_path):
    """`make demo`'s command on a fresh CREDIT_HOME: SQLite online store, file registry, and an
    embedded `mlflow server` that is stopped again afterwards."""
    home, port = tmp_path / "home", free_port()
    env = _clean_env(CREDIT_HOME=str(home), CREDIT_MLFLOW_PORT=str(port))
    done = _run(["demo"], env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "4454 applications" in out
    assert "AUC" in out
    assert "credit-risk v1" in out
    # The fairness table shows Regulation B's 62+ band, the search summary, and the shipped
    # exception under which the model was registered; the model card is where it says.
    assert "62+" in out
    assert "Less-discriminatory-alternative search: 32 of 32 candidates" in out
    assert "ACCEPTED WITH FAIRNESS EXCEPTION" in out
    assert "credit-risk-demo.yaml" in out
    card = home / "model-cards" / "credit-risk-v1-model-card.md"
    assert f"model card: {card}" in out
    assert "FAIRNESS EXCEPTION IN FORCE" in card.read_text()
    assert (home / "feast" / "online_store.db").is_file()
    assert (home / "feast" / "registry.db").is_file()
    assert (home / "mlflow" / "mlflow.db").is_file()
    # The demo stopped the server it started.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0

    # The registered model is in the embedded registry, its bytes in the local artifact folder.
    first = LocalMlflow(home, port=port)
    first.start()
    try:
        assert first.started_here
        again = LocalMlflow(home, port=port)
        assert again.start() == first.url
        assert not again.started_here  # reused, and left running by its stop()
        again.stop()
        assert first.healthy()

        client = MlflowClient(tracking_uri=first.url)
        champion = client.get_model_version_by_alias("credit-risk", "champion")
        assert champion.version == "1"
        mlflow.set_tracking_uri(first.url)
        assert isinstance(mlflow.xgboost.load_model("models:/credit-risk@champion"), xgb.Booster)
        assert any(p.name == "model.ubj" for p in (home / "mlflow" / "artifacts").rglob("model.ubj"))
    finally:
        first.stop()
    assert not first.healthy()


def test_local_mlflow_refuses_a_port_taken_by_something_else(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        server = LocalMlflow(Path(tmp_path), port=s.getsockname()[1])
        with pytest.raises(LocalMlflowError, match="not an MLflow server"):
            server.start()

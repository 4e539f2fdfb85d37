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
from mlflow import MlflowClient

from cli.mlflow_local import LocalMlflow, LocalMlflowError
from tests.servers import free_port

CLI = [str(Path(sys.executable).parent / "credit-scoring")]


def _run(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDIT_", "MLFLOW_"))}
    return {**env, **extra}


def test_train_json_against_production_servers(credit_env):
    name = f"credit-risk-cli-{uuid.uuid4().hex[:6]}"
    env = _clean_env(**credit_env.env(), CREDIT_MODEL_NAME=name)
    done = _run(["train", "--json"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["model_name"] == name
    assert summary["version"] == "1"
    assert summary["aliases"] == ["challenger", "champion"]
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
    # Same data and settings as the session model: the same test metrics.
    assert summary["test_metrics"]["auc"] == pytest.approx(credit_env.training.test_metrics["auc"], abs=1e-6)


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

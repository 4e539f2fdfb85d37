"""Settings, the CPU-limit rule for XGBoost threads, model URIs and the command line."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from credit_scoring.settings import load_settings
from predictor.registry import ModelRef
from predictor.server import configure
from predictor.settings import PredictorSettings, cpu_limit

CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("max 100000", None),
        ("200000 100000", min(2, CPUS)),
        ("150000 100000", 1),  # 1.5 CPUs: one thread, never a team the quota would throttle
        ("50000 100000", 1),
    ],
)
def test_cpu_limit_from_cgroup_v2(tmp_path, content, expected):
    (tmp_path / "cpu.max").write_text(content + "\n")
    assert cpu_limit(tmp_path) == expected


@pytest.mark.parametrize(("quota", "expected"), [("-1", None), ("400000", min(4, CPUS)), ("100000", 1)])
def test_cpu_limit_from_cgroup_v1(tmp_path, quota, expected):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota)
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cpu_limit(tmp_path) == expected


def test_threads_default_to_one_without_a_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("predictor.settings.cpu_limit", lambda: None)
    assert PredictorSettings().threads() == 1
    assert PredictorSettings(nthread=3).threads() == 3


def test_settings_from_environment_and_secret_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDIT_MODEL_URI", "models:/credit-risk/7")
    monkeypatch.setenv("CREDIT_POLL_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    (tmp_path / "AWS_SECRET_ACCESS_KEY").write_text("from-a-secret-file")
    settings = load_settings(PredictorSettings, secrets_dir=tmp_path, nthread=2)
    for key in (
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "MLFLOW_S3_ENDPOINT_URL",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "AWS_DEFAULT_REGION",
    ):
        # setenv records the current value (or its absence) so that teardown restores it.
        monkeypatch.setenv(key, "placeholder")
        monkeypatch.delenv(key)
    assert settings.model_uri == "models:/credit-risk/7"
    assert settings.poll_interval_seconds == 5
    assert settings.nthread == 2
    assert settings.aws_secret_access_key is not None
    assert "from-a-secret-file" not in repr(settings)  # secrets never show in logs
    settings.export_environment()
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "from-a-secret-file"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"


@pytest.mark.parametrize(
    "uri", ["runs:/abc/model", "models:/credit-risk", "models:/credit-risk/latest", "s3://x"]
)
def test_bad_model_uri_is_refused(uri):
    with pytest.raises(ValidationError, match="models:/<name>@<alias>"):
        PredictorSettings(model_uri=uri)


def test_model_ref():
    assert ModelRef.parse("models:/credit-risk@champion") == ModelRef("credit-risk", "champion", None)
    assert ModelRef.parse("models:/credit-risk/12") == ModelRef("credit-risk", None, "12")
    assert str(ModelRef.parse("models:/credit-risk@challenger")) == "models:/credit-risk@challenger"


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CREDIT_MODEL_URI", "CREDIT_POLL_INTERVAL_SECONDS", "CREDIT_NTHREAD", "CREDIT_BIND_ADDRESS"):
        monkeypatch.delenv(name, raising=False)


def test_main_reads_flags_over_environment_over_defaults(monkeypatch: pytest.MonkeyPatch):
    """``configure`` is what ``main()`` runs first: KServe's flags, ours, then the settings."""
    _clear(monkeypatch)
    defaults = configure([])
    assert defaults.model_name == "credit-risk"
    assert defaults.settings.model_uri == "models:/credit-risk@champion"
    assert defaults.settings.poll_interval_seconds == 30
    assert defaults.options.bind_address == "0.0.0.0"
    monkeypatch.setenv("CREDIT_MODEL_URI", "models:/credit-risk/3")
    monkeypatch.setenv("CREDIT_POLL_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("CREDIT_BIND_ADDRESS", "127.0.0.2")
    from_env = configure([])
    assert (from_env.settings.model_uri, from_env.settings.poll_interval_seconds) == (
        "models:/credit-risk/3",
        5,
    )
    assert from_env.options.bind_address == "127.0.0.2"
    launch = configure(
        [
            "--model_name",
            "other",
            "--http_port",
            "9001",
            "--grpc_port",
            "9002",
            "--model_uri",
            "models:/credit-risk@challenger",
            "--poll_interval",
            "2",
            "--nthread",
            "3",
            "--bind_address",
            "127.0.0.1",
        ]
    )
    assert launch.model_name == "other"
    assert (launch.options.http_port, launch.options.grpc_port, launch.options.bind_address) == (
        9001,
        9002,
        "127.0.0.1",
    )
    assert launch.settings.model_uri == "models:/credit-risk@challenger"
    assert launch.settings.poll_interval_seconds == 2
    assert launch.settings.nthread == 3


def test_main_refuses_bad_values_and_several_workers(monkeypatch: pytest.MonkeyPatch):
    _clear(monkeypatch)
    with pytest.raises(SystemExit, match="--workers must be 1"):
        configure(["--workers", "2"])
    with pytest.raises(SystemExit, match="model_uri"):
        configure(["--model_uri", "runs:/abc/model"])
    with pytest.raises(SystemExit, match="poll_interval_seconds"):
        configure(["--poll_interval", "0"])

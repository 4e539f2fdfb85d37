"""Predictor settings: one typed object, built once in ``main()`` (prefix ``CREDIT_``).

MLflow and S3 keep their standard variable names (``MLFLOW_TRACKING_URI``, ``MLFLOW_S3_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` ...) so the same Secret works for every MLflow client; they may also come
from files in the secrets directory (file name = variable name). ``export_environment()`` hands
them to the MLflow and boto3 clients, which read the process environment.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator

from serving.settings import ServerSettings

__all__ = ["MODEL_URI_PATTERN", "PredictorSettings", "cpu_limit"]

# models:/<name>@<alias> (follow the alias) or models:/<name>/<version> (pin a version).
MODEL_URI_PATTERN = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))$")


def cpu_limit(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs the container may use (cgroup v2 ``cpu.max`` or v1 CFS quota), None if unlimited.

    Rounded down (a 1500m limit gives 1): an OpenMP team larger than the quota gets throttled
    mid-prediction, which costs far more than the extra thread could win.
    """
    quota = period = None
    v2 = cgroup_root / "cpu.max"
    try:
        if v2.is_file():
            raw_quota, raw_period = v2.read_text().split()[:2]
            if raw_quota != "max":
                quota, period = float(raw_quota), float(raw_period)
        else:
            for sub in ("cpu", "cpu,cpuacct"):
                q, p = cgroup_root / sub / "cpu.cfs_quota_us", cgroup_root / sub / "cpu.cfs_period_us"
                if q.is_file() and p.is_file():
                    raw = float(q.read_text())
                    if raw > 0:
                        quota, period = raw, float(p.read_text())
                    break
    except (OSError, ValueError):
        return None
    if quota is None or not period:
        return None
    cpus = max(1, math.floor(quota / period))
    if hasattr(os, "sched_getaffinity"):  # Linux: a cpuset may be smaller than the quota
        cpus = min(cpus, len(os.sched_getaffinity(0)))
    return cpus


class PredictorSettings(ServerSettings):
    """Everything the predictor reads from its environment."""

    model_uri: str = Field(
        "models:/credit-risk@champion",
        description="Registry model to serve: models:/<name>@<alias> (followed) or models:/<name>/<version>.",
    )
    poll_interval_seconds: float = Field(
        30.0,
        gt=0,
        description="How often the alias is re-resolved; a move is served within one interval.",
    )
    nthread: int | None = Field(
        None,
        ge=1,
        description="XGBoost threads for batches and contributions. Default: the container CPU limit "
        "(cgroup quota), else 1. Single rows always use 1 thread.",
    )
    inline_max_rows: int = Field(
        256,
        ge=1,
        description="Batches up to this many rows are predicted (and explained, when the trees are "
        "shallow enough for TreeSHAP tables) on the event loop; larger ones in a worker thread so "
        "they do not stall other requests.",
    )
    max_rows: int = Field(10_000, ge=1, description="Most rows accepted in one request (400 above).")
    startup_backoff_seconds: float = Field(
        1.0,
        gt=0,
        description="While nothing is served yet: first retry delay after the registry could not be "
        "reached or the version could not be downloaded or was refused (doubles on each failure).",
    )
    startup_backoff_max_seconds: float = Field(
        30.0, gt=0, description="Longest start-up retry delay; also the floor of the reload retry cap."
    )
    registry_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Timeout of one MLflow HTTP request (MLflow's own retries are turned off).",
    )
    download_dir: Path | None = Field(
        None, description="Scratch directory for model downloads (default: TMPDIR)."
    )

    # Standard MLflow / S3 variables (no prefix), also readable from secret files of the same name.
    mlflow_tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI"), description="The MLflow server."
    )
    mlflow_tracking_username: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_USERNAME"), description="MLflow basic auth."
    )
    mlflow_tracking_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_PASSWORD"), description="MLflow basic auth."
    )
    mlflow_s3_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MLFLOW_S3_ENDPOINT_URL"),
        description="S3 endpoint of the model artifacts (MinIO); unset: AWS.",
    )
    aws_access_key_id: SecretStr | None = Field(
        None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID"), description="S3 credentials."
    )
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY"), description="S3 credentials."
    )
    aws_default_region: str | None = Field(
        None, validation_alias=AliasChoices("AWS_DEFAULT_REGION"), description="S3 region."
    )

    @field_validator("model_uri")
    @classmethod
    def _check_uri(cls, value: str) -> str:
        if not MODEL_URI_PATTERN.match(value):
            raise ValueError("must be models:/<name>@<alias> or models:/<name>/<version>")
        return value

    def threads(self) -> int:
        """The XGBoost thread count to use (explicit setting, else the CPU limit, else 1)."""
        return self.nthread or cpu_limit() or 1

    def export_environment(self) -> None:
        """Give the MLflow and boto3 clients their settings through the variables they read."""
        values: dict[str, str | None] = {
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLFLOW_TRACKING_USERNAME": self.mlflow_tracking_username,
            "MLFLOW_TRACKING_PASSWORD": _reveal(self.mlflow_tracking_password),
            "MLFLOW_S3_ENDPOINT_URL": self.mlflow_s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": _reveal(self.aws_access_key_id),
            "AWS_SECRET_ACCESS_KEY": _reveal(self.aws_secret_access_key),
            "AWS_DEFAULT_REGION": self.aws_default_region,
            # We retry with our own backoff in the background; MLflow's default (7 retries with
            # exponential backoff, 120 s timeout) would hide an outage for minutes per attempt.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(math.ceil(self.registry_timeout_seconds)),
        }
        for key, value in values.items():
            if value is not None:
                os.environ[key] = value


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()

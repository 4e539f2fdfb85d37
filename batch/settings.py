"""Settings of ``credit-scoring batch-score``: one typed object, built once (``CREDIT_BATCH_*``).

The command line's options override the environment; the chart's Job, CronJob and
SparkApplication set the same variables, so every way of running the job reads one set of
settings. MLflow keeps its standard ``MLFLOW_TRACKING_URI``; the feature store and the
Pushgateway use the variables every component shares.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from feature_store import EMBEDDED_CONFIG, default_repo_path

__all__ = ["BatchSettings"]


def _shared(name: str) -> AliasChoices:
    return AliasChoices(f"CREDIT_BATCH_{name}", f"CREDIT_{name}")


class BatchSettings(BaseSettings):
    """Built once by the command (or ``python -m batch``); nothing reads the environment at import."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_BATCH_", extra="ignore", populate_by_name=True)

    input: Path = Field(description="Portfolio file: Parquet or CSV.")
    output: Path = Field(description="Answers: a Parquet file (local engine) or folder (spark engine).")
    rejects: Path | None = Field(default=None, description="Rejected rows (default OUTPUT.rejects.parquet).")
    engine: Literal["local", "spark"] = Field(
        default="local", description="local (pyarrow) or spark (PySpark)."
    )
    model_uri: str = Field(
        default="models:/credit-risk@champion", description="Registry model by alias or version."
    )
    as_of: datetime | None = Field(
        default=None,
        description="One point in time for all features (default: each application_timestamp).",
    )
    chunk_rows: int = Field(
        default=25_000, ge=1_000, le=2_000_000, description="Rows per chunk (local engine)."
    )
    workers: int | None = Field(
        default=None, ge=1, description="Worker processes of the local engine (default: the CPUs available)."
    )
    spark_master: str | None = Field(
        default=None, description="Spark master when not given by spark-submit (default local[*])."
    )
    portfolio: str = Field(
        default="portfolio",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Name of the portfolio: the Pushgateway grouping key of its metrics.",
    )
    max_age_hours: float = Field(
        default=26.0,
        gt=0,
        description="Hours after which a missing successful run alerts (pushed with the metrics).",
    )
    run_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:16],
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Id of this run, on every answer (request_id) and in the metrics.",
    )
    home: Path = Field(
        default=Path(".credit-scoring"),
        validation_alias=_shared("HOME"),
        description="Embedded state (MLflow when no tracking URI is set).",
    )
    feature_repo: Path | None = Field(
        default=None,
        validation_alias=_shared("FEATURE_REPO"),
        description="Feast repo (default: feature_repo/).",
    )
    feature_store_config: Path | None = Field(
        default=None,
        validation_alias=_shared("FEATURE_STORE_CONFIG"),
        description="feature_store*.yaml profile (default: the embedded feature_store.yaml).",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CREDIT_MLFLOW_TRACKING_URI"),
        description="MLflow server (credit-scoring batch-score starts the embedded one under "
        "$CREDIT_HOME/mlflow when unset; python -m batch needs it).",
    )
    mlflow_port: int = Field(
        default=5000,
        ge=1,
        le=65535,
        validation_alias=_shared("MLFLOW_PORT"),
        description="Port of the embedded MLflow server the command starts without MLFLOW_TRACKING_URI.",
    )
    pushgateway_url: str | None = Field(
        default=None, validation_alias=_shared("PUSHGATEWAY_URL"), description="Where the run's metrics go."
    )

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is UTC, as Feast reads event timestamps.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def resolved_rejects(self) -> Path:
        if self.rejects is not None:
            return self.rejects
        stem = self.output.stem if self.output.suffix == ".parquet" else self.output.name
        return self.output.with_name(f"{stem}.rejects.parquet")

    @property
    def resolved_feature_repo(self) -> Path:
        return (self.feature_repo or default_repo_path()).resolve()

    @property
    def resolved_feature_store_config(self) -> Path:
        return (self.feature_store_config or self.resolved_feature_repo / EMBEDDED_CONFIG).resolve()

    def feast_env(self) -> dict[str, str]:
        """Environment for the feature-store profile's placeholders (CREDIT_HOME made explicit)."""
        import os

        return {**os.environ, "CREDIT_HOME": str(self.home.resolve())}

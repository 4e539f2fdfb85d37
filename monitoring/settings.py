"""Settings of the drift job (env prefix ``CREDIT_``), built once in ``monitoring.drift.main``.

The inference log's location is not repeated here: the job reads ``InferenceLogSettings``
(``CREDIT_INFERENCE_LOG_URL``), the same object the transformer writes with.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_scoring.settings import SECRETS_DIR

__all__ = ["DriftSettings"]


class DriftSettings(BaseSettings):
    """Settings of the drift job."""

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_",
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
        extra="ignore",
    )

    model_name: str = "credit-risk"
    """Registered model whose served version is monitored."""
    drift_alias: str = "champion"
    """Registry alias of the served version (resolved through the MLflow registry)."""
    drift_version: str | None = None
    """Pin a version instead of following the alias (backfills, investigations)."""
    drift_window_hours: float = Field(default=24.0, gt=0)
    """The current population: records of the last this-many hours of the inference log."""
    drift_min_records: int = Field(default=500, ge=1)
    """Fewer records than this gives status ``insufficient_data`` (no PSI is pushed)."""
    drift_max_records: int = Field(default=200_000, ge=1)
    """Most recent records read at most, to bound memory on busy days."""
    drift_psi_bins: int = Field(default=10, ge=2, le=50)
    """Reference quantile bins (10 = deciles, the credit convention)."""
    drift_psi_warning: float = Field(default=0.1, gt=0)
    """PSI above this is a warning (the job's status; alerts use the rule files)."""
    drift_psi_critical: float = Field(default=0.25, gt=0)
    """PSI above this is critical."""
    drift_share_threshold: float = Field(default=0.5, gt=0, le=1)
    """Evidently dataset drift: this share of drifted features or more is critical."""
    drift_experiment: str = "credit-drift"
    """MLflow experiment that receives one run (report HTML/JSON, metrics) per job run."""
    drift_job_name: str = "credit-drift"
    """Pushgateway job label."""
    pushgateway_url: str | None = None
    """Prometheus Pushgateway, e.g. ``http://pushgateway:9091``; unset: nothing is pushed."""
    pushgateway_timeout_seconds: float = Field(default=10.0, gt=0)
    """Longest wait for the Pushgateway on each push or delete."""
    performance_window_days: float = Field(default=365.0, ge=0)
    """A non-default outcome counts (is matured) once observed this long after the decision;
    a default counts whenever observed (``monitoring.performance``). 0 counts every outcome."""
    outcomes_min_matured: int = Field(default=100, ge=1)
    """Fewer matured outcomes than this: realised AUC, KS and default rates are not reported."""
    mlflow_max_retries: int = Field(default=2, ge=0)
    """HTTP retries of the MLflow client (its default of 7 takes minutes to report an outage)."""

    @model_validator(mode="after")
    def _check(self) -> DriftSettings:
        if self.drift_psi_warning >= self.drift_psi_critical:
            raise ValueError("drift_psi_warning must be below drift_psi_critical")
        return self

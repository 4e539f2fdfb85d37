"""Settings of the inference log (env prefix ``CREDIT_INFERENCE_LOG_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_scoring.settings import SECRETS_DIR

__all__ = ["SECRETS_DIR", "InferenceLogSettings"]


class InferenceLogSettings(BaseSettings):
    """Settings of the inference log: where and how it is written."""

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_INFERENCE_LOG_",
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    home: Path = Field(default=Path(".credit-scoring"), validation_alias="CREDIT_HOME")
    """Embedded defaults live here (``CREDIT_HOME``)."""
    enabled: bool = True
    """Set false to score without logging (benchmarks of the bare path only)."""
    url: SecretStr | None = None
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pw@host/db``; default SQLite under ``home``."""
    spill_dir: Path | None = None
    """Local directory for the spill file; default ``home/inference-log-spill``. Use a volume
    that outlives the pod in production, or records spilled during an outage die with it."""
    spill_max_bytes: int = Field(default=512 * 1024 * 1024, ge=0)
    """Most bytes the spill directory may hold (0: no cap). Beyond it a batch is dropped whole
    and counted (``credit_inference_log_records_total{outcome="dropped"}``), as when the disk
    itself is full. Keep it below the spill volume's size (the chart's 1 GiB ``emptyDir``): a pod
    that outgrows its ``emptyDir`` is evicted, and every spilled record with it."""
    hash_key: SecretStr | None = None
    """Key for the applicant-id hash (a mounted Secret in production). Unset: a random key is
    created once under ``home`` so hashes stay stable across restarts on one machine."""
    batch_size: int = Field(default=5_000, ge=1, le=10_000)
    """Records per INSERT (one transaction). Under a backlog each write takes this many; on the
    SQLite log with its applicant-hash index, 5,000 per transaction cost 33 µs of CPU per record
    against 52 µs at 500 (docs/benchmarks.md)."""
    flush_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    """Longest a record waits in memory before its batch is written. A trade-off: the writer thread
    builds a batch's rows holding the GIL the event loop needs, so shorter intervals mean shorter
    bursts and a lower tail, but more transactions. At ~450 single-application requests/s, 0.1 s
    instead of 0.5 s took the transformer's p99 from 9.3 to 7.7 ms (a shadow's from 18.2 to 12.5 ms);
    at saturation (c=32) it cost ~5% more server CPU per request (1,537 against 1,460 µs, medians), so the
    default stays 0.5 s (docs/benchmarks.md)."""
    max_queue: int = Field(default=20_000, ge=1)
    """Records held in memory at most; beyond that they go straight to the spill file."""
    retry_interval_seconds: float = Field(default=5.0, gt=0)
    """How often an unreachable database is tried again (and the spill file replayed)."""
    connect_timeout_seconds: int = Field(default=5, ge=1)
    """PostgreSQL connect timeout, so an outage is noticed quickly."""
    statement_timeout_seconds: int = Field(default=10, ge=1)
    """PostgreSQL statement timeout: a batch stuck behind a lock is spilled, not held forever."""
    audit_retention_days: int = Field(default=730, ge=1)
    """Audit attributes (age band, marital status) older than this are erased from the log by
    the drift job (``monitoring.audit_retention``); the decision records stay."""

    def database_url(self) -> str:
        if self.url is not None:
            return self.url.get_secret_value()
        return f"sqlite:///{(self.home / 'inference_log.db').resolve()}"

    def spill_path(self) -> Path:
        return self.spill_dir if self.spill_dir is not None else self.home / "inference-log-spill"

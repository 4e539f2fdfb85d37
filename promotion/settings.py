"""Settings of ``credit-scoring compare|promote|promotion-hook`` (env prefix ``CREDIT_PROMOTION_``;
the hook's own, ``HookSettings``, ``CREDIT_PROMOTION_HOOK_``).

Built once by the command (``PromotionSettings()``) and passed in; the inference log's location
is ``InferenceLogSettings`` (``CREDIT_INFERENCE_LOG_URL``), the object the transformer writes with.
Thresholds are the gates of docs/promotion.md; each is a setting so a model risk team can set
its own and see them in every promotion's evidence.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_scoring.settings import SECRETS_DIR

__all__ = ["SECRETS_DIR", "PromotionSettings"]


class PromotionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDIT_PROMOTION_",
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
        extra="ignore",
        use_attribute_docstrings=True,
        populate_by_name=True,  # PromotionSettings(model_name=...) as well as CREDIT_MODEL_NAME
    )

    # ----------------------------------------------------------------- what is promoted
    model_name: str = Field(default="credit-risk", validation_alias="CREDIT_MODEL_NAME")
    """Registered model (``CREDIT_MODEL_NAME``)."""
    values_file: Path = Path("manifests/gitops/values/credit-scoring.yaml")
    """The values file Argo CD syncs, relative to the GitOps repository's root."""
    evidence_dir: Path = Path("manifests/gitops/evidence")
    """Where each promotion commit stores its evidence (comparison, gates, model card)."""
    base_branch: str | None = None
    """Branch the promotion starts from (default: the repository's current branch)."""
    remote: str | None = None
    """Git remote to fetch the base from and push the promotion branch to (the hook needs one)."""
    branch_prefix: str = "promote"
    """Promotion branches are ``<prefix>/<model>-<step>-v<version>-<digest>``."""
    git_author_name: str = "credit-scoring promote"
    """Commit author when git has no ``user.name`` configured (the hook's clone)."""
    git_author_email: str = "promote@credit-scoring.invalid"
    """Commit author e-mail when git has no ``user.email`` configured."""
    comparison_experiment: str = "credit-comparison"
    """MLflow experiment that receives one run (JSON and HTML report) per comparison."""

    # ----------------------------------------------------------------- evidence window
    window_hours: float = Field(default=168.0, gt=0)
    """Inference-log window the gates judge (and ``compare``'s default ``--since``)."""
    max_records: int = Field(default=200_000, ge=1)
    """Most recent records per side read at most."""

    # ----------------------------------------------------------------- offline gates
    max_auc_drop: float = Field(default=0.01, ge=0)
    """The challenger's out-of-time AUC may be at most this much below the champion's."""
    max_brier_rise: float = Field(default=0.005, ge=0)
    """The challenger's out-of-time Brier score may be at most this much above the champion's."""

    # ----------------------------------------------------------------- online gates
    min_volume: int = Field(default=500, ge=1)
    """Shadow pairs (before ``split``) or shadow pairs + split records (before ``champion``)."""
    min_agreement: float = Field(default=0.8, ge=0, le=1)
    """Decision agreement on shadow pairs at least this."""
    max_approval_rate_change: float = Field(default=0.05, ge=0, le=1)
    """Challenger approval rate within this distance of the champion's."""
    max_score_psi: float = Field(default=0.25, gt=0)
    """PSI of the challenger's scores on the champion's deciles at most this."""

    # ----------------------------------------------------------------- live gates (champion)
    live_window: str = "24h"
    """PromQL range of the live gates (the split period)."""
    min_live_calls: int = Field(default=100, ge=1)
    """Challenger predictor calls in the live window at least this."""
    max_error_rate_increase: float = Field(default=0.005, ge=0)
    """Challenger error rate at most the champion's plus this."""
    max_p99_ratio: float = Field(default=1.25, gt=0)
    """Challenger predictor p99 at most this multiple of the champion's."""
    max_live_score_psi: float = Field(default=0.25, gt=0)
    """PSI of the challenger's served scores on the champion's (Prometheus histograms)."""
    prometheus_timeout_seconds: float = Field(default=10.0, gt=0)


class HookSettings(BaseSettings):
    """Settings of the hook (env prefix ``CREDIT_PROMOTION_HOOK_``; the secret from a mounted file)."""

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_PROMOTION_HOOK_",
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    secret: SecretStr
    """The webhook secret (the same string given to MLflow's ``create_webhook``); required."""
    bind_address: str = Field(default="127.0.0.1", validation_alias="CREDIT_BIND_ADDRESS")
    """Listen address (``0.0.0.0`` in a pod)."""
    port: int = Field(default=8090, ge=1, le=65535)
    repo_dir: Path = Path("gitops")
    """The hook's clone of the GitOps repository (cloned from ``clone_url`` when absent)."""
    clone_url: str | None = None
    """Where to clone from at start; also the remote ``origin`` that branches are pushed to."""
    git_auth_header: SecretStr | None = None
    """An HTTP header git sends to the remote, e.g. ``Authorization: Bearer <token>`` (a Secret)."""
    prometheus_url: str | None = None
    """Prometheus for the champion step's live gates (without it, a ``champion`` event is refused)."""
    max_age_seconds: float = Field(default=300.0, gt=0)
    """Deliveries signed longer ago than this are refused (replay protection)."""
    remember_deliveries: int = Field(default=1000, ge=1)
    """Delivery ids kept to answer a redelivery without running the step again."""

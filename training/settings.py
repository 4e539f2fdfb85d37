"""Settings of the training job and the data/features commands (``CREDIT_`` environment)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from feature_store import EMBEDDED_CONFIG, default_repo_path

if TYPE_CHECKING:
    from training.search import SearchSettings

__all__ = ["TrainingSettings"]


class TrainingSettings(BaseSettings):
    """Settings of the data, features and training commands.

    Built once by the CLI; nothing reads the environment at import time.
    """

    model_config = SettingsConfigDict(env_prefix="CREDIT_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".credit-scoring"), description="Embedded state: data, Feast, MLflow.")
    data_dir: Path | None = Field(default=None, description="Offline tables (default: $CREDIT_HOME/data).")
    feature_repo: Path | None = Field(
        default=None, description="Feast repo (default: this checkout's feature_repo/)."
    )
    feature_store_config: Path | None = Field(
        default=None, description="feature_store*.yaml profile (default: the embedded feature_store.yaml)."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CREDIT_MLFLOW_TRACKING_URI"),
        description="MLflow server; unset starts the embedded one under $CREDIT_HOME/mlflow.",
    )
    mlflow_port: int = Field(
        default=5000,
        ge=1,
        le=65535,
        description="Port of the embedded MLflow server (127.0.0.1) the CLI starts when no "
        "MLFLOW_TRACKING_URI is set.",
    )
    model_name: str = Field(default="credit-risk", description="Registered model name.")
    experiment: str = Field(default="credit-risk", description="MLflow experiment.")
    seed: int = Field(default=42, description="XGBoost seed: same data and seed give the same model.")
    threads: int = Field(
        default=1, ge=1, description="XGBoost threads (fixed, for reproducibility and shared CPUs)."
    )
    search_size: int = Field(
        default=32, ge=1, description="Candidates of the less-discriminatory-alternative search (32: all)."
    )
    search_auc_tolerance: float = Field(
        default=0.010,
        ge=0,
        le=0.1,
        description="Most validation AUC an alternative may lose vs the baseline.",
    )
    search_max_trees: int = Field(default=250, ge=1, description="Most trees an eligible candidate may have.")
    bootstrap_replicates: int = Field(default=500, ge=20, description="Paired bootstrap replicates.")
    fairness_exception: Path | None = Field(
        default=None,
        description="Signed fairness exception (YAML) the registration gate may apply; none by default.",
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.resolve()

    @property
    def resolved_data_dir(self) -> Path:
        return (self.data_dir or self.home / "data").resolve()

    @property
    def model_card_dir(self) -> Path:
        """Where a local copy of each new version's model card is written."""
        return self.resolved_home / "model-cards"

    def search(self) -> SearchSettings:
        from training.search import SearchSettings  # XGBoost and friends: not for every command

        return SearchSettings(
            size=self.search_size,
            auc_tolerance=self.search_auc_tolerance,
            max_trees=self.search_max_trees,
            bootstrap_replicates=self.bootstrap_replicates,
        )

    @property
    def resolved_feature_repo(self) -> Path:
        return (self.feature_repo or default_repo_path()).resolve()

    @property
    def resolved_feature_store_config(self) -> Path:
        return (self.feature_store_config or self.resolved_feature_repo / EMBEDDED_CONFIG).resolve()

    def feast_env(self) -> dict[str, str]:
        """Environment for the feature-store profile's placeholders (CREDIT_HOME made explicit)."""
        import os

        return {**os.environ, "CREDIT_HOME": str(self.resolved_home)}

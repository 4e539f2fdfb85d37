"""Settings of the local stack (environment ``CREDIT_STACK_*``), built once per command."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cli.stack.supervisor import LOCALHOST

__all__ = ["StackSettings"]


class StackSettings(BaseSettings):
    """Settings of the local stack: where it keeps its state and which ports it uses."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_STACK_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default=Path(".credit-scoring"),
        validation_alias=AliasChoices("CREDIT_HOME", "CREDIT_STACK_HOME"),
        description="Embedded state (data, Feast SQLite store, embedded MLflow, inference log).",
    )
    dir: Path | None = Field(
        default=None, description="Process state: state.json, logs, Redis data (default $CREDIT_HOME/stack)."
    )
    data_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CREDIT_DATA_DIR", "CREDIT_STACK_DATA_DIR"),
        description="Prepared tables (default $CREDIT_HOME/data).",
    )
    feature_repo: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CREDIT_FEATURE_REPO", "CREDIT_STACK_FEATURE_REPO"),
        description="Feast repository (default: this checkout's feature_repo/).",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CREDIT_STACK_MLFLOW_TRACKING_URI"),
        description="An MLflow server to use; unset starts the embedded one.",
    )
    model_uri: str = Field(default="models:/credit-risk@champion", description="What the predictor serves.")
    redis: Literal["auto", "on", "off"] = Field(
        default="auto", description="Redis online store: auto = when redis-server is on PATH."
    )
    mlflow_port: int = Field(
        default=5000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("CREDIT_STACK_MLFLOW_PORT", "CREDIT_MLFLOW_PORT"),
        description="Port of the embedded MLflow server.",
    )
    redis_port: int = Field(default=6379, ge=1, le=65535, description="Port of redis-server.")
    predictor_http_port: int = Field(default=8085, ge=1, le=65535, description="Predictor REST port.")
    predictor_grpc_port: int = Field(default=8086, ge=1, le=65535, description="Predictor gRPC port.")
    transformer_http_port: int = Field(default=8080, ge=1, le=65535, description="Transformer REST port.")
    transformer_grpc_port: int = Field(default=8081, ge=1, le=65535, description="Transformer gRPC port.")
    ready_timeout_seconds: float = Field(
        default=240.0, gt=0, description="Longest wait for a part to be ready."
    )

    @property
    def transformer_url(self) -> str:
        return f"http://{LOCALHOST}:{self.transformer_http_port}"

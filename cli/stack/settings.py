"""Settings of the local stack (environment ``CREDIT_STACK_*``), built once per command."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
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
    challenger: str = Field(
        default="off",
        description=(
            "off, shadow (a second predictor scores a copy of every batch; only the champion "
            "answers) or split:PERCENT (it decides that sticky share of applicants); "
            "`stack up --challenger`."
        ),
    )
    challenger_model_uri: str = Field(
        default="models:/credit-risk@challenger", description="What the challenger predictor serves."
    )
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
    challenger_http_port: int = Field(default=8087, ge=1, le=65535, description="Challenger REST port.")
    challenger_grpc_port: int = Field(default=8088, ge=1, le=65535, description="Challenger gRPC port.")
    transformer_http_port: int = Field(default=8080, ge=1, le=65535, description="Transformer REST port.")
    transformer_grpc_port: int = Field(default=8081, ge=1, le=65535, description="Transformer gRPC port.")
    ready_timeout_seconds: float = Field(
        default=240.0, gt=0, description="Longest wait for a part to be ready."
    )

    @field_validator("challenger")
    @classmethod
    def _challenger(cls, value: str) -> str:
        mode, _, percent = value.strip().partition(":")
        if mode in ("off", "shadow") and not percent:
            return mode
        if mode == "split" and percent.isdigit() and 0 <= int(percent) <= 100:
            return f"split:{int(percent)}"
        raise ValueError(f"{value!r}: off, shadow or split:PERCENT with PERCENT an integer 0-100")

    @property
    def challenger_mode(self) -> str:
        """``off``, ``shadow`` or ``split``."""
        return self.challenger.partition(":")[0]

    @property
    def challenger_percent(self) -> int:
        """``split``: the challenger's share of applicants (0 otherwise)."""
        _, _, percent = self.challenger.partition(":")
        return int(percent) if percent else 0

    @property
    def transformer_url(self) -> str:
        return f"http://{LOCALHOST}:{self.transformer_http_port}"

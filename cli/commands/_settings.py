"""Settings of the commands: built once per command with a readable error instead of a traceback,
and named in each command's ``--help``."""

from __future__ import annotations

import contextlib

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.markup import escape

from credit_scoring.settings_help import environment_help
from training.settings import TrainingSettings

__all__ = ["fail", "settings_epilog", "tracking_uri", "training_settings"]


def settings_epilog(*classes: type[BaseSettings]) -> str:
    """A command's ``--help`` epilog: the environment variables it reads (one paragraph each, as
    typer joins single lines), literal text (no rich markup)."""
    return "\n\n".join(escape(line) for line in environment_help(*classes))


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def training_settings() -> TrainingSettings:
    try:
        return TrainingSettings()
    except ValidationError as exc:
        raise fail(f"invalid CREDIT_ settings: {exc}") from exc


def tracking_uri(settings: TrainingSettings) -> contextlib.AbstractContextManager[str]:
    """The configured MLflow (``MLFLOW_TRACKING_URI``), or the embedded server for the block."""
    from cli.mlflow_local import tracking_uri as local_tracking_uri

    return local_tracking_uri(settings.mlflow_tracking_uri, settings.resolved_home, settings.mlflow_port)

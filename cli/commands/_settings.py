"""Build the training settings once per command, with a readable error instead of a traceback."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from training.settings import TrainingSettings

__all__ = ["fail", "training_settings"]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def training_settings() -> TrainingSettings:
    try:
        return TrainingSettings()
    except ValidationError as exc:
        raise fail(f"invalid CREDIT_ settings: {exc}") from exc

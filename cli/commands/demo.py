"""``credit-scoring demo`` (what ``make demo`` runs): the main job on embedded defaults.

``run_foundation`` is the composable part (data, features, training); later steps (local stack,
scoring) add their own functions and call them after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from cli.commands._settings import training_settings
from cli.commands.train import REFUSED_EXIT_CODE, print_result, train_with_display

if TYPE_CHECKING:
    from training.pipeline import TrainingResult
    from training.settings import TrainingSettings

__all__ = ["FoundationResult", "demo_command", "run_foundation"]


@dataclass(frozen=True)
class FoundationResult:
    settings: TrainingSettings
    training: TrainingResult


def run_foundation(settings: TrainingSettings, console: Console) -> FoundationResult:
    """Prepare data, apply and materialize features, train and register; print the metrics."""
    from training.jobs import apply_features, materialize_features, prepare_data

    console.rule("1. Data")
    prepared = prepare_data(settings)
    console.print(
        f"{len(prepared.applications)} applications, {len(prepared.profile)} profile versions "
        f"-> {prepared.data_dir}"
    )
    console.rule("2. Features (Feast)")
    applied = apply_features(settings)
    console.print(
        f"applied {applied.feature_views + applied.on_demand_feature_views} "
        f"and feature service {applied.feature_services}"
    )
    console.print(f"materialized {materialize_features(settings)} into the online store")
    console.rule("3. Training, alternative search and registration gate")
    if settings.fairness_exception is not None:
        console.print(
            f"fairness exception offered to the registration gate: {settings.fairness_exception} "
            "(it waives the fairness checks only, only at or above its AIR floor, until it expires)"
        )
    result = train_with_display(settings, console)
    print_result(result, console)
    if not result.accepted:
        typer.secho("error: the registration gate refused the demo's model (see above)", fg="red", err=True)
        raise typer.Exit(code=REFUSED_EXIT_CODE)
    return FoundationResult(settings, result)


def demo_command() -> None:
    """Run the platform's main job end to end on embedded defaults."""
    from cli.commands.stack import demo_settings, run_stack_demo
    from governance.exception import DEMO_EXCEPTION

    console = Console()
    stack = demo_settings()  # before training: MLflow's client exports MLFLOW_TRACKING_URI
    settings = training_settings()
    if settings.fairness_exception is None:
        # No candidate reaches the four-fifths rule on this data: the demo registers its model
        # under the exception shipped with the repository (its justification is in the file).
        settings = settings.model_copy(update={"fairness_exception": DEMO_EXCEPTION})
    run_foundation(settings, console)
    # Then the local stack scores the examples over v1 and v2, and is stopped again.
    run_stack_demo(console, stack)

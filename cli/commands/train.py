"""``credit-scoring train [--json]``: train, evaluate and register a new model version."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.commands._settings import tracking_uri, training_settings

if TYPE_CHECKING:
    from training.pipeline import TrainingResult
    from training.settings import TrainingSettings

__all__ = ["metrics_table", "print_result", "progress_display", "train_command", "train_with_display"]

_STEP_TEXT = {
    "features": "Point-in-time training set from Feast",
    "fit": "Fitting XGBoost (monotone, early stopping)",
    "evaluate": "Policy on validation, metrics on out-of-time test",
    "artifacts": "Logging the run: params, metrics, plots, report, reference sample",
    "model": "Logging the model (xgboost flavour, signature, input example)",
    "register": "Registering and setting aliases",
}


@contextlib.contextmanager
def progress_display(console: Console) -> Iterator[Callable[[str], None]]:
    """A rich progress line per training step; yields the callback the pipeline calls."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        current: list[TaskID] = []

        def step(name: str) -> None:
            if current:
                progress.update(current[-1], completed=1)
            current.append(progress.add_task(_STEP_TEXT.get(name, name), total=1))

        yield step
        if current:
            progress.update(current[-1], completed=1)


def metrics_table(result: TrainingResult) -> Table:
    m = result.test_metrics
    table = Table(
        title=f"{result.registered.name} v{result.version}",
        caption=f"aliases: {', '.join(result.registered.aliases)}",
    )
    table.add_column("out-of-time test")
    table.add_column("value", justify="right")
    for key, label in [
        ("auc", "AUC"),
        ("gini", "Gini"),
        ("ks", "KS"),
        ("brier", "Brier"),
        ("approval_rate", "approval rate"),
        ("approved_default_rate", "default rate of approved"),
        ("decline_rate", "decline rate"),
        ("air_min_age_band", "min AIR, age band"),
        ("air_min_marital", "min AIR, marital status"),
    ]:
        table.add_row(label, f"{m[key]:.3f}")
    return table


def calibration_table(result: TrainingResult) -> Table:
    table = Table(title="Calibration by risk band (out-of-time test)")
    for column in ("band", "applications", "mean PD", "observed default rate"):
        table.add_column(column, justify="right")
    for row in result.calibration:
        table.add_row(
            str(row["band"]),
            str(row["count"]),
            f"{row['mean_pd']:.3f}",
            f"{row['observed_default_rate']:.3f}",
        )
    return table


def print_result(result: TrainingResult, console: Console) -> None:
    console.print(metrics_table(result))
    console.print(calibration_table(result))
    policy = result.policy
    console.print(
        f"policy: approve >= {policy.approve_min_score:g}, decline < {policy.decline_below_score:g}, "
        f"refer in between (scale {policy.scale.base_score:g} points at {policy.scale.base_odds:g}:1, "
        f"PDO {policy.scale.pdo:g})"
    )


def train_with_display(settings: TrainingSettings, console: Console) -> TrainingResult:
    from training.jobs import run_training

    with tracking_uri(settings) as uri:
        console.print(f"MLflow: {uri}")
        with progress_display(console) as step:
            return run_training(settings, uri, step)


def train_command(
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary only."),
) -> None:
    """Train on point-in-time Feast features, evaluate out of time, register `credit-risk`."""
    settings = training_settings()
    if as_json:
        from training.jobs import run_training

        # Libraries print to stdout (MLflow's run links); keep stdout for the JSON document.
        with contextlib.redirect_stdout(sys.stderr), tracking_uri(settings) as uri:
            result = run_training(settings, uri)
        typer.echo(json.dumps(result.summary(), indent=2, default=str))
        return
    console = Console()
    result = train_with_display(settings, console)
    console.print(metrics_table(result))
    console.print(
        f"policy: approve >= {result.policy.approve_min_score:g}, "
        f"decline < {result.policy.decline_below_score:g}, refer in between"
    )

"""``credit-scoring train [--json] [--fairness-exception FILE]``: search, train, register, gate.

Exit status: 0 when the new version passed the registration gate (it holds ``challenger``), 3
when it was registered but refused (no alias; the reasons are printed), 1 on errors.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cli.commands._settings import fail, tracking_uri, training_settings

if TYPE_CHECKING:
    from training.pipeline import TrainingResult
    from training.settings import TrainingSettings

__all__ = [
    "REFUSED_EXIT_CODE",
    "fairness_table",
    "gate_panel",
    "metrics_table",
    "print_result",
    "progress_display",
    "search_table",
    "train_command",
    "train_with_display",
]

REFUSED_EXIT_CODE = 3

_STEP_TEXT = {
    "features": "Point-in-time training set from Feast",
    "search": "Less-discriminatory-alternative search (fit, policy, calibration, bootstrap per candidate)",
    "evaluate": "Winner on the out-of-time test window",
    "stability": "Reason stability: refit with another seed",
    "artifacts": "Logging the run: params, metrics, plots, tables, reference sample, candidates",
    "model": "Logging the model (xgboost flavour, signature, input example)",
    "register": "Registering the version with its lineage",
    "gate": "Registration gate: fairness, calibration, Regulation B age check, stability",
    "card": "Evidence, training report and model card",
}


@contextlib.contextmanager
def progress_display(
    console: Console,
) -> Iterator[tuple[Callable[[str], None], Callable[[int, int, str], None]]]:
    """A rich progress line per training step, and a bar over the search's candidates; yields the
    two callbacks the pipeline calls."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        current: list[TaskID] = []
        candidates: list[TaskID] = []

        def step(name: str) -> None:
            if current:
                progress.update(current[-1], completed=progress.tasks[current[-1]].total)
            current.append(progress.add_task(_STEP_TEXT.get(name, name), total=1))

        def candidate(index: int, total: int, name: str) -> None:
            if not candidates:
                candidates.append(progress.add_task("", total=total))
            progress.update(candidates[0], completed=index - 1, description=f"  candidate {index}: {name}")
            if index == total:
                progress.update(candidates[0], completed=total)

        yield step, candidate
        if current:
            progress.update(current[-1], completed=progress.tasks[current[-1]].total)


def metrics_table(result: TrainingResult) -> Table:
    m = result.test_metrics
    table = Table(
        title=f"{result.registered.name} v{result.version}",
        caption=f"aliases: {', '.join(result.registered.aliases) or 'none'}",
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


def fairness_table(result: TrainingResult, attribute: str = "age_band") -> Table:
    """Approval and approve-or-refer rates with their AIRs per group (test window)."""
    table = Table(
        title=f"Fairness by {attribute.replace('_', ' ')} (out-of-time test; AIR flagged below 0.8)"
    )
    for column in ("group", "n", "approval", "AIR", "approve or refer", "AIR"):
        table.add_column(column, justify="right")
    for r in result.fairness[attribute].to_dict(orient="records"):

        def air(value: float, flagged: bool) -> str:
            return f"[red]{value:.3f}[/]" if flagged else f"{value:.3f}"

        table.add_row(
            str(r["group"]),
            str(r["count"]),
            f"{r['approve_rate']:.3f}",
            air(r["air_approve"], bool(r["flagged_approve"])),
            f"{r['approve_or_refer_rate']:.3f}",
            air(r["air_approve_or_refer"], bool(r["flagged_approve_or_refer"])),
        )
    return table


def search_table(result: TrainingResult) -> Table:
    s = result.search
    table = Table(
        title=f"Less-discriminatory-alternative search: {s['evaluated']} of {s['candidate_set']} candidates, "
        f"{s['eligible']} eligible (validation)",
        caption=s["why"],
        caption_justify="left",
    )
    for column in ("#", "candidate", "trees", "AUC", "min AIR", "dAUC [95% CI]", "dAIR [95% CI]", "eligible"):
        table.add_column(column, justify="right" if column != "candidate" else "left")
    frame = result.search_table
    shown = frame.sort_values(["eligible", "valid_air_min"], ascending=False).head(6)
    for r in shown.to_dict(orient="records"):
        mark = "[bold green]*[/] " if r["winner"] else ""
        table.add_row(
            str(r["candidate"]),
            f"{mark}{r['name']}",
            str(r["trees"]),
            f"{r['valid_auc']:.4f}",
            f"{r['valid_air_min']:.3f}",
            f"{r['d_auc']:+.4f} [{r['d_auc_low']:+.4f}, {r['d_auc_high']:+.4f}]",
            f"{r['d_air']:+.3f} [{r['d_air_low']:+.3f}, {r['d_air_high']:+.3f}]",
            "yes" if r["eligible"] else "no",
        )
    return table


def gate_panel(result: TrainingResult) -> Panel:
    gate = result.gate
    style = "red" if not gate.accepted else ("yellow" if gate.exception_applied else "green")
    lines = gate.lines()
    if gate.exception_applied and gate.exception is not None:
        lines.append(f"  justification: {gate.exception.business_justification}")
    # The lines hold "[pass]" / "[FAIL]": text, not rich markup.
    return Panel(escape("\n".join(lines)), title="Registration gate", border_style=style)


def print_result(result: TrainingResult, console: Console) -> None:
    console.print(metrics_table(result))
    console.print(calibration_table(result))
    console.print(fairness_table(result, "age_band"))
    console.print(fairness_table(result, "marital"))
    console.print(search_table(result))
    st = result.stability
    console.print(
        f"reason stability: first reason agrees for {st.agreement:.1%} of {st.applicants} "
        f"referred/declined validation applicants across seeds {st.seeds[0]} and {st.seeds[1]} "
        f"(gate: at least {st.threshold:.0%})"
    )
    console.print(gate_panel(result))
    policy = result.policy
    console.print(
        f"policy: approve >= {policy.approve_min_score:g}, decline < {policy.decline_below_score:g}, "
        f"refer in between (scale {policy.scale.base_score:g} points at {policy.scale.base_odds:g}:1, "
        f"PDO {policy.scale.pdo:g})"
    )
    if result.model_card is not None:
        # soft_wrap: a path is printed whole, so it can be copied (and found by the demo test).
        console.print(
            f"model card: {result.model_card} (and .html); in MLflow: run {result.registered.run_id} "
            "artifacts model_card/",
            soft_wrap=True,
        )


def train_with_display(settings: TrainingSettings, console: Console) -> TrainingResult:
    from governance.exception import ExceptionFileError
    from training.jobs import run_training

    try:
        with tracking_uri(settings) as uri:
            console.print(f"MLflow: {uri}")
            with progress_display(console) as (step, candidate):
                return run_training(settings, uri, step, candidate)
    except ExceptionFileError as exc:
        raise fail(str(exc)) from exc


def train_command(
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary only."),
    fairness_exception: Annotated[
        Path | None,
        typer.Option(
            "--fairness-exception",
            exists=True,
            dir_okay=False,
            help="Signed fairness exception (YAML) the registration gate may apply "
            "(default: CREDIT_FAIRNESS_EXCEPTION; none).",
        ),
    ] = None,
) -> None:
    """Search, train on point-in-time Feast features, register `credit-risk`, run the registration gate.

    Exits 3 when the version is registered but refused the challenger alias by the gate.
    """
    from governance.exception import ExceptionFileError, load_exception

    settings = training_settings()
    if fairness_exception is not None:
        settings = settings.model_copy(update={"fairness_exception": fairness_exception})
    if settings.fairness_exception is not None:
        try:  # before anything slow: a broken exception file is a clear error at once
            load_exception(settings.fairness_exception)
        except ExceptionFileError as exc:
            raise fail(str(exc)) from exc
    if as_json:
        from training.jobs import run_training

        # Libraries print to stdout (MLflow's run links); keep stdout for the JSON document.
        try:
            with contextlib.redirect_stdout(sys.stderr), tracking_uri(settings) as uri:
                result = run_training(settings, uri)
        except ExceptionFileError as exc:
            raise fail(str(exc)) from exc
        typer.echo(json.dumps(result.summary(), indent=2, default=str))
    else:
        console = Console()
        result = train_with_display(settings, console)
        print_result(result, console)
    if not result.accepted:
        typer.secho(
            f"error: {result.registered.name} v{result.version} is registered but the registration gate "
            "refused it the challenger alias (see above)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=REFUSED_EXIT_CODE)

"""``credit-scoring promote shadow|split|champion|rollback``: one gated GitOps step (promotion.steps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.commands._settings import fail, tracking_uri, training_settings

__all__ = ["promote_command"]


def promote_command(
    step: Annotated[str, typer.Argument(help="shadow | split | champion | rollback", metavar="STEP")],
    percent: Annotated[
        int | None, typer.Option(min=0, max=100, help="split: share of applicants the challenger decides.")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="Version to promote (default @challenger; rollback: @previous-champion)."),
    ] = None,
    gitops_repo: Annotated[
        Path, typer.Option(help="Git work tree holding the values file Argo CD syncs.")
    ] = Path("."),
    prometheus: Annotated[
        str | None, typer.Option(help="Prometheus URL for the live gates (needed by champion).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff and gates; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the gates, commit the pinned versions on a new branch, move the MLflow aliases.

    Exit 0 when done (or would be, with --dry-run, or already done), 1 when a gate or a dirty
    work tree refuses, 2 for usage errors."""
    from pydantic import ValidationError

    from credit_scoring.errors import CreditScoringError
    from promotion.settings import PromotionSettings
    from promotion.steps import PromotionRequest, Step
    from promotion.wiring import context, run_promote

    try:
        chosen = Step(step)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{step!r}: one of shadow, split, champion, rollback", param_hint="STEP"
        ) from exc
    if chosen is Step.SPLIT and percent is None:
        raise typer.BadParameter("split needs --percent N (0-100)", param_hint="--percent")
    if chosen is not Step.SPLIT and percent is not None:
        raise typer.BadParameter("--percent applies to split only", param_hint="--percent")
    try:
        settings = PromotionSettings()
    except ValidationError as exc:
        raise fail(f"invalid CREDIT_PROMOTION_ settings: {exc}") from exc
    request = PromotionRequest(
        chosen, version=version, percent=percent, dry_run=dry_run, prometheus=prometheus
    )
    try:
        with tracking_uri(training_settings()) as uri, context(settings, uri) as ctx:
            result = run_promote(ctx, request, gitops_repo)
    except CreditScoringError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        for gate in result.gates:
            typer.echo(gate.line())
        if result.diff:
            typer.echo(result.diff.rstrip())
        colour = typer.colors.RED if result.exit_code else typer.colors.GREEN
        typer.secho(f"{result.outcome.value}: {result.reason}", fg=colour)
    raise typer.Exit(code=result.exit_code)

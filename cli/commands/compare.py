"""``credit-scoring compare``: champion vs challenger over the inference log (promotion.compare)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.commands._settings import fail, tracking_uri, training_settings

__all__ = ["compare_command"]


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint=name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def compare_command(
    since: Annotated[
        str | None, typer.Option(help="Window start, ISO-8601 (default: the gates' window).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Window end, ISO-8601 (default: now).")] = None,
    champion: Annotated[str | None, typer.Option(help="Champion version (default: @champion).")] = None,
    challenger: Annotated[str | None, typer.Option(help="Challenger version (default: @challenger).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the HTML report here.")] = None,
    log: Annotated[bool, typer.Option(help="Log the JSON and HTML report to MLflow.")] = True,
) -> None:
    """Champion vs challenger: agreement, swaps, PSI, reasons, latency, offline metrics, fairness."""
    from pydantic import ValidationError

    from credit_scoring.errors import CreditScoringError
    from promotion.settings import PromotionSettings
    from promotion.wiring import context, run_compare

    start, end = _when(since, "--since"), _when(until, "--until")
    try:
        settings = PromotionSettings()
    except ValidationError as exc:
        raise fail(f"invalid CREDIT_PROMOTION_ settings: {exc}") from exc
    try:
        with tracking_uri(training_settings()) as uri, context(settings, uri) as ctx:
            out = run_compare(
                ctx, since=start, until=end, champion=champion, challenger=challenger, log_to_mlflow=log
            )
    except (CreditScoringError, LookupError) as exc:
        raise fail(str(exc)) from exc
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(out.html, encoding="utf-8")
    if as_json:
        typer.echo(
            json.dumps({**out.report.as_dict(), "mlflow_run_id": out.mlflow_run_id}, indent=2, default=str)
        )
        return
    for line in out.report.summary_lines():
        typer.echo(line)
    if out.mlflow_run_id:
        typer.echo(
            f"report logged to MLflow run {out.mlflow_run_id} (experiment {settings.comparison_experiment})"
        )
    if html is not None:
        typer.echo(f"HTML report: {html}")

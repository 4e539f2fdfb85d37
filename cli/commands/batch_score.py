"""``credit-scoring batch-score``: score a portfolio file (the work is in the top-level ``batch`` package)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from batch.job import Summary

__all__ = ["batch_score_command"]


def _settings(**options: Any) -> Any:
    from pydantic import ValidationError

    from batch.settings import BatchSettings

    try:
        # Options given on the command line override CREDIT_BATCH_* (the chart sets those).
        return BatchSettings(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc


def summary_table(summary: Summary) -> Table:
    table = Table(
        title=f"{summary.model} v{summary.model_version} ({summary.engine} engine)", title_justify="left"
    )
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("rows read", f"{summary.rows:,}")
    table.add_row("scored", f"{summary.scored:,}")
    table.add_row("rejected (invalid input)", f"{summary.rejected:,}")
    table.add_row("thin files (no profile at the time)", f"{summary.thin_files:,}")
    for decision in ("approve", "refer", "decline"):
        count = summary.decisions.get(decision, 0)
        share = count / summary.scored if summary.scored else 0.0
        table.add_row(decision, f"{count:,} ({share:.1%})")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    table.add_row("rows/s", f"{summary.rate:,.0f}")
    table.add_row("answers", str(summary.output))
    table.add_row("rejects", str(summary.rejects))
    return table


def batch_score_command(
    input: Annotated[
        Path | None, typer.Option(help="Portfolio file, Parquet or CSV [CREDIT_BATCH_INPUT].")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Answers, Parquet [CREDIT_BATCH_OUTPUT].")] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Rejected rows (default OUTPUT.rejects.parquet).")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="local (default) or spark [CREDIT_BATCH_ENGINE].")
    ] = None,
    model_uri: Annotated[
        str | None,
        typer.Option(help="models:/NAME@ALIAS or models:/NAME/VERSION (default credit-risk@champion)."),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            help="Features as of this time for every row (default: each row's application_timestamp; UTC).",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"],
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (local engine; default: the CPUs).")
    ] = None,
    chunk_rows: Annotated[
        int | None, typer.Option(help="Rows per chunk (local engine; default 25,000).")
    ] = None,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master without spark-submit (spark engine; default local[*]).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON, no progress display.")
    ] = False,
) -> None:
    """Score a whole portfolio with the registry model, exactly as the online endpoint would."""
    import json

    from batch.inputs import InputError
    from batch.job import run
    from cli.mlflow_local import tracking_uri

    settings = _settings(
        input=input,
        output=output,
        rejects=rejects,
        engine=engine,
        model_uri=model_uri,
        as_of=as_of,
        workers=workers,
        chunk_rows=chunk_rows,
        spark_master=spark_master,
    )
    console = Console(stderr=True)
    try:
        with tracking_uri(settings.mlflow_tracking_uri, settings.home, settings.mlflow_port) as uri:
            # Without MLFLOW_TRACKING_URI: the embedded server under $CREDIT_HOME/mlflow, as `train`.
            settings = settings.model_copy(update={"mlflow_tracking_uri": uri})
            summary = run(settings) if as_json else _run_with_progress(settings, console)
    except (InputError, ValueError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    if as_json:
        typer.echo(json.dumps(summary.as_json(), indent=2))
    else:
        Console().print(summary_table(summary))
    if summary.metrics_error:
        typer.secho(f"warning: metrics not pushed: {summary.metrics_error}", fg=typer.colors.YELLOW, err=True)


def _run_with_progress(settings: Any, console: Console) -> Summary:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from batch.inputs import PortfolioFile
    from batch.job import run

    total = PortfolioFile.open(settings.input, need_timestamp=settings.as_of is None).rows
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]:,.0f} rows/s"),
        TextColumn("{task.fields[rejected]:,} rejected"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("scoring", total=total, rate=0.0, rejected=0)
        return run(
            settings,
            lambda tally: progress.update(
                task, completed=tally.rows, rate=tally.rate, rejected=tally.rejected
            ),
        )

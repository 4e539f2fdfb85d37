"""``credit-scoring replay REQUEST_ID``: re-score a logged decision with the registry's version.

Exit status: 0 when every row reproduces, 1 when one does not, 2 when nothing is logged under
REQUEST_ID.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.commands._settings import tracking_uri, training_settings

__all__ = ["replay_command"]


def replay_command(
    request_id: Annotated[str, typer.Argument(help="The request id the answer carried (x-request-id).")],
    role: Annotated[
        str | None, typer.Option(help="Only champion or challenger (shadow) rows; default: both.")
    ] = None,
) -> None:
    """Re-score a logged decision from the log's features and the registry's version."""
    from governance.replay import replay
    from governance.version import VersionScorer
    from inference_log import InferenceLogSettings, create_log_engine

    log = InferenceLogSettings()
    engine = create_log_engine(log.database_url(), log.connect_timeout_seconds)
    console = Console()
    try:
        with tracking_uri(training_settings()) as uri:
            rows = replay(
                engine, request_id, lambda name, version: VersionScorer.load(uri, name, version), role
            )
    finally:
        engine.dispose()
    if not rows:
        typer.secho(f"error: no inference-log record with request id {request_id}", fg="red", err=True)
        raise typer.Exit(code=2)
    table = Table(title=f"replay of request {request_id}", title_justify="left")
    for column in ("row", "role", "model", "logged", "replayed", "reproduces"):
        table.add_column(column)

    def show(d: dict[str, object]) -> str:
        codes = d["reason_codes"]
        reasons = "n/a" if codes is None else (",".join(codes) or "-")  # type: ignore[arg-type]  # list[str]
        return f"{d['decision']} {d['score']:.2f} (PD {d['pd']:.4f}, band {d['risk_band']}) reasons {reasons}"

    for r in rows:
        verdict = "[green]yes[/]" if r.reproduced else "[red]no[/]: " + "; ".join(r.differences)
        table.add_row(str(r.row_index), r.role, r.model, show(r.logged), show(r.replayed), verdict)
    console.print(table)
    if not all(r.reproduced for r in rows):
        raise typer.Exit(code=1)

"""``credit-scoring stack up|down|status``: the platform as local processes (see ``cli.stack.local``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from cli.commands._settings import settings_epilog
from cli.commands.score import print_reply, send_file
from cli.stack.api_key import API_KEY_FILE, find_api_key
from cli.stack.local import LocalStack, StackError, StackSettings, describe
from cli.stack.supervisor import free_port

__all__ = ["DEMO_EXAMPLES", "app", "demo_settings", "run_stack_demo", "stack_settings"]

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
# What `make demo` scores at the end: each outcome over v1, then the same over v2.
DEMO_EXAMPLES = tuple(
    f"{protocol}/{name}.json"
    for protocol in ("v1", "v2")
    for name in ("approve", "decline", "thin-file", "invalid")
)

app = typer.Typer(help="Run MLflow, Redis, predictor and transformer locally.", no_args_is_help=True)
_EPILOG = settings_epilog(StackSettings)


def stack_settings(challenger: str | None = None) -> StackSettings:
    """The settings from the environment; ``challenger`` (``--challenger``) overrides theirs."""
    try:
        return StackSettings(challenger=challenger) if challenger else StackSettings()
    except ValidationError as exc:
        typer.secho(f"error: invalid CREDIT_STACK_ settings: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc


@app.command("up", epilog=_EPILOG)
def up_command(
    challenger: Annotated[
        str | None,
        typer.Option(
            "--challenger",
            metavar="off|shadow|split:PERCENT",
            help="Also start a predictor following models:/credit-risk@challenger: shadow scores a "
            "copy of every batch, split:PERCENT decides that sticky share of applicants "
            "(CREDIT_STACK_CHALLENGER).",
        ),
    ] = None,
) -> None:
    """Start the stack (transformer on 127.0.0.1:8080 by default) and return; it keeps running."""
    console = Console()
    stack = LocalStack(stack_settings(challenger))
    try:
        state = stack.up(lambda line: console.print(f"[dim]>[/] {line}"))
    except StackError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    console.print(
        f"[green]up[/]: transformer at {state.transformer_url}, features from {state.feature_store}"
    )
    key_file = stack.home / API_KEY_FILE
    console.print(
        f"API key in {key_file} (mode 0600; `credit-scoring score` sends it); by hand:\n"
        f"  curl -H \"x-api-key: $(cat {key_file})\" -H 'content-type: application/json' "
        f"-d @examples/v1/decline.json {state.transformer_url}/v1/models/credit-scoring:predict"
    )
    console.print("try: credit-scoring score examples/v1/decline.json; stop with: credit-scoring stack down")


@app.command("down", epilog=_EPILOG)
def down_command() -> None:
    """Stop every process `stack up` started."""
    console = Console()
    stopped = LocalStack(stack_settings()).down(lambda line: console.print(f"[dim]>[/] {line}"))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command("status", epilog=_EPILOG)
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show each process, whether it runs and whether it is ready; exit 1 unless all are."""
    stack = LocalStack(stack_settings())
    state = stack.state()
    if state is None:
        typer.echo("not running")
        raise typer.Exit(code=1)
    summary = describe(state)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        table = Table(
            title=f"local stack: {state.transformer_url} (features: {state.feature_store})",
            title_justify="left",
        )
        for column in ("process", "pid", "running", "ready", "url", "log"):
            table.add_column(column)
        for p in summary["processes"]:
            table.add_row(p["name"], str(p["pid"]), _yes(p["alive"]), _yes(p["ready"]), p["url"], p["log"])
        Console().print(table)
    if not all(p["alive"] and p["ready"] for p in summary["processes"]):
        raise typer.Exit(code=1)


def _yes(value: bool) -> str:
    return "[green]yes[/]" if value else "[red]no[/]"


def demo_settings() -> StackSettings:
    """The stack settings, with free ports for the servers whose port is not set explicitly.

    The demo stops everything it starts, so nothing needs the well-known ports; free ones keep
    `make demo` working next to whatever already listens on 8080 or 6379. MLflow keeps its port
    (``CREDIT_MLFLOW_PORT``, default 5000): it is the same embedded server training used.
    Build these before training runs: MLflow's client exports ``MLFLOW_TRACKING_URI`` into the
    process environment, which would otherwise point the stack at training's stopped server.
    """
    settings = stack_settings()
    ports = (
        "redis_port",
        "predictor_http_port",
        "predictor_grpc_port",
        "transformer_http_port",
        "transformer_grpc_port",
        "challenger_http_port",
        "challenger_grpc_port",
    )
    free = {name: free_port() for name in ports if name not in settings.model_fields_set}
    return settings.model_copy(update=free)


def run_stack_demo(console: Console, settings: StackSettings | None = None) -> list[int]:
    """Start the stack, score the examples over v1 and v2, print each answer, stop the stack.

    Returns the HTTP status of each example; exits 1 when the stack cannot start or an example
    does not get its expected status (200, and 400 for the invalid ones).
    """
    stack = LocalStack(settings or demo_settings())
    statuses: list[int] = []
    console.rule("4. Local stack (MLflow, Redis, predictor, transformer)")
    try:
        with stack.running(lambda line: console.print(f"[dim]>[/] {line}")) as state:
            console.rule(f"5. Scoring examples/ at {state.transformer_url}")
            api_key = find_api_key(None, stack.home)
            for name in DEMO_EXAMPLES:
                reply = send_file(EXAMPLES / name, state.transformer_url, api_key=api_key)
                print_reply(console, reply)
                statuses.append(reply.status)
            console.rule("6. Stopping the local stack")
    except StackError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    wrong = [
        f"{name}: HTTP {status}"
        for name, status in zip(DEMO_EXAMPLES, statuses, strict=True)
        if status != (400 if "invalid" in name else 200)
    ]
    if wrong:
        typer.secho(f"error: unexpected answers: {'; '.join(wrong)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    console.print("[green]demo complete[/]: every example got its expected answer; the stack is stopped.")
    return statuses

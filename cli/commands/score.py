"""``credit-scoring score FILE.json``: send a v1 or v2 request file, print the answers as a table.

The protocol follows from the file: ``{"instances": [...]}`` is v1, ``{"inputs": [...]}`` is v2
(named inputs or one BYTES ``applications`` input). An error answer is printed with every
problem the transformer named, and the command exits 1.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from cli.stack.api_key import find_api_key

__all__ = ["ScoreReply", "print_reply", "score_command", "send_file"]

DEFAULT_URL = "http://127.0.0.1:8080"
_STYLE = {"approve": "green", "refer": "yellow", "decline": "red"}


@dataclass(frozen=True)
class ScoreReply:
    source: str
    protocol: str
    status: int
    body: dict[str, Any]

    @property
    def answers(self) -> list[dict[str, Any]]:
        if self.status != 200:
            return []
        if self.protocol == "v1":
            return list(self.body.get("predictions", []))
        outputs = {o["name"]: o for o in self.body.get("outputs", [])}
        return [json.loads(a) for a in outputs.get("answers", {}).get("data", [])]


def protocol_of(doc: object) -> str:
    if isinstance(doc, dict) and "instances" in doc:
        return "v1"
    if isinstance(doc, dict) and "inputs" in doc:
        return "v2"
    raise ValueError('a request file holds {"instances": [...]} (v1) or {"inputs": [...]} (v2)')


def send_file(
    path: Path,
    url: str = DEFAULT_URL,
    model: str = "credit-scoring",
    timeout: float = 60.0,
    api_key: str | None = None,
) -> ScoreReply:
    """POST the file as it is (bytes untouched) to the route its protocol uses, with ``api_key``
    in ``x-api-key`` when given."""
    raw = Path(path).read_bytes()
    protocol = protocol_of(json.loads(raw))
    route = f"/v1/models/{model}:predict" if protocol == "v1" else f"/v2/models/{model}/infer"
    response = httpx.post(
        f"{url.rstrip('/')}{route}",
        content=raw,
        timeout=timeout,
        headers={"content-type": "application/json", **({"x-api-key": api_key} if api_key else {})},
    )
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500]}
    return ScoreReply(str(path), protocol, response.status_code, body)


def answers_table(reply: ScoreReply) -> Table:
    answers = reply.answers
    models = {
        f"{m.get('name')} v{m.get('version')} ({m.get('alias') or 'no alias'})"
        for m in (a.get("model") or {} for a in answers)
    }
    table = Table(
        title=f"{reply.source} ({reply.protocol}, HTTP {reply.status}) - model {', '.join(sorted(models))}",
        title_justify="left",
    )
    table.add_column("applicant", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("PD", justify="right", no_wrap=True)
    table.add_column("band", justify="center", no_wrap=True)
    table.add_column("thin file", justify="center", no_wrap=True)
    table.add_column("reasons (adverse action, contribution to log-odds)", ratio=1)
    for a in answers:
        decision = a["decision"]
        reasons = (
            "\n".join(f"{r['code']} {r['text']} (+{r['contribution']:.2f})" for r in a["reasons"]) or "-"
        )
        table.add_row(
            a["applicant_id"],
            f"[{_STYLE.get(decision, 'white')}]{decision}[/]",
            f"{a['score']:.1f}",
            f"{a['pd']:.3f}",
            a["risk_band"],
            "yes" if a["thin_file"] else "no",
            reasons,
        )
    return table


def problems_table(reply: ScoreReply) -> Table:
    table = Table(
        title=f"{reply.source} ({reply.protocol}, HTTP {reply.status}): {reply.body.get('error', '')}",
        title_justify="left",
        title_style="red",
    )
    table.add_column("instance", justify="right")
    table.add_column("field")
    table.add_column("problem")
    for p in reply.body.get("problems", []):
        table.add_row(
            "-" if p.get("index") is None else str(p["index"]), str(p.get("field")), str(p.get("message"))
        )
    return table


def print_reply(console: Console, reply: ScoreReply) -> None:
    console.print(answers_table(reply) if reply.status == 200 else problems_table(reply))


def score_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A v1 or v2 request (see examples/).")
    ],
    url: Annotated[
        str, typer.Option(envvar="CREDIT_TRANSFORMER_URL", help="Transformer base URL.")
    ] = DEFAULT_URL,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the raw response body instead of a table.")
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="CREDIT_API_KEY",
            show_default=False,
            help="API key (else CREDIT_API_KEY, else the file $CREDIT_HOME/api-key that `stack up` wrote).",
        ),
    ] = None,
) -> None:
    """Score the applications in FILE with the running transformer."""
    console = Console()
    home = Path(os.environ.get("CREDIT_HOME", ".credit-scoring"))
    try:
        key = find_api_key(api_key, home)
        reply = send_file(file, url, api_key=key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    except httpx.HTTPError as exc:
        typer.secho(
            f"error: no transformer answering at {url} ({type(exc).__name__}): "
            "start one with `credit-scoring stack up`",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=2) from exc
    if as_json:
        typer.echo(json.dumps(reply.body, indent=2))
    else:
        print_reply(console, reply)
    if reply.status != 200:
        raise typer.Exit(code=1)

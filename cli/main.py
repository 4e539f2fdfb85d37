"""The ``credit-scoring`` command line."""

from __future__ import annotations

import typer

from cli.commands import data, demo, features, score, stack, train

app = typer.Typer(
    help="Credit-scoring platform: data, features, training, local stack and scoring.", no_args_is_help=True
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.command("train")(train.train_command)
app.command("demo")(demo.demo_command)
app.add_typer(stack.app, name="stack")
app.command("score")(score.score_command)


def main() -> None:
    app()

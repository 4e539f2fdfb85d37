"""The ``credit-scoring`` command line."""

from __future__ import annotations

import typer

from credit_scoring.commands import (
    compare,
    data,
    demo,
    features,
    promote,
    promotion_hook,
    score,
    stack,
    train,
)

app = typer.Typer(
    help="Credit-scoring platform: data, features, training, local stack, scoring, comparison and promotion.",
    no_args_is_help=True,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.command("train")(train.train_command)
app.command("demo")(demo.demo_command)
app.add_typer(stack.app, name="stack")
app.command("score")(score.score_command)
app.command("compare")(compare.compare_command)
app.command("promote")(promote.promote_command)
app.command("promotion-hook")(promotion_hook.promotion_hook_command)


def main() -> None:
    app()

"""The ``credit-scoring`` command line."""

from __future__ import annotations

import typer

from credit_scoring.commands import audit, card, data, demo, features, outcomes, replay, score, stack, train

app = typer.Typer(
    help="Credit-scoring platform: data, features, training, local stack and scoring.", no_args_is_help=True
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.command("train")(train.train_command)
app.command("demo")(demo.demo_command)
app.add_typer(stack.app, name="stack")
app.command("score")(score.score_command)
app.add_typer(outcomes.app, name="outcomes")
app.command("replay")(replay.replay_command)
app.add_typer(audit.app, name="audit")
app.command("card")(card.card_command)


def main() -> None:
    app()

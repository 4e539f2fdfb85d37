"""The ``credit-scoring`` command line."""

from __future__ import annotations

import typer

from batch.settings import BatchSettings
from cli.commands import batch_score, data, demo, features, score, stack, train
from cli.commands._settings import settings_epilog
from cli.stack.settings import StackSettings
from training.settings import TrainingSettings

app = typer.Typer(
    help="Credit-scoring platform: data, features, training, local stack, scoring, portfolio scoring.",
    no_args_is_help=True,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.command("train", epilog=settings_epilog(TrainingSettings))(train.train_command)
app.command("demo", epilog=settings_epilog(TrainingSettings, StackSettings))(demo.demo_command)
app.add_typer(stack.app, name="stack")
app.command("score")(score.score_command)
app.command("batch-score", epilog=settings_epilog(BatchSettings))(batch_score.batch_score_command)


def main() -> None:
    app()

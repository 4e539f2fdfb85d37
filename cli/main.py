"""The ``credit-scoring`` command line."""

from __future__ import annotations

import typer

from batch.settings import BatchSettings
from cli.commands import (
    audit,
    batch_score,
    card,
    compare,
    data,
    demo,
    features,
    outcomes,
    promote,
    promotion_hook,
    replay,
    score,
    stack,
    train,
)
from cli.commands._settings import settings_epilog
from cli.stack.settings import StackSettings
from inference_log.settings import InferenceLogSettings
from promotion.settings import HookSettings, PromotionSettings
from training.settings import TrainingSettings

app = typer.Typer(
    help="Credit-scoring platform: data, features, training, local stack, scoring, comparison, "
    "promotion and portfolio scoring.",
    no_args_is_help=True,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.command("train", epilog=settings_epilog(TrainingSettings))(train.train_command)
app.command("demo", epilog=settings_epilog(TrainingSettings, StackSettings))(demo.demo_command)
app.add_typer(stack.app, name="stack")
app.command("score")(score.score_command)
app.command("batch-score", epilog=settings_epilog(BatchSettings))(batch_score.batch_score_command)
# compare, promote and the hook also read MLflow's own MLFLOW_TRACKING_URI (else the embedded server).
_PROMOTION = (PromotionSettings, InferenceLogSettings, TrainingSettings)
app.command("compare", epilog=settings_epilog(*_PROMOTION))(compare.compare_command)
app.command("promote", epilog=settings_epilog(*_PROMOTION))(promote.promote_command)
app.command("promotion-hook", epilog=settings_epilog(*_PROMOTION, HookSettings))(
    promotion_hook.promotion_hook_command
)
# Governance: a version's model card and the replay of a logged decision (the registry's MLflow);
# loan outcomes and the audit attributes of the inference log.
app.command("card", epilog=settings_epilog(TrainingSettings))(card.card_command)
app.command("replay", epilog=settings_epilog(InferenceLogSettings, TrainingSettings))(replay.replay_command)
app.add_typer(outcomes.app, name="outcomes")
app.add_typer(audit.app, name="audit")


def main() -> None:
    app()

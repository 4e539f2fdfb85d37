"""``credit-scoring features apply|materialize``: Feast, through the checked configuration."""

from __future__ import annotations

import typer

from cli.commands._settings import fail, settings_epilog, training_settings
from training.settings import TrainingSettings

__all__ = ["app", "apply_command", "materialize_command"]

app = typer.Typer(help="Register features in Feast and load the online store.", no_args_is_help=True)


@app.command("apply", epilog=settings_epilog(TrainingSettings))
def apply_command() -> None:
    """Register entity, views and feature service (like `feast apply`)."""
    from feature_store import FeatureStoreConfigError
    from training.jobs import apply_features

    try:
        result = apply_features(training_settings())
    except (FeatureStoreConfigError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(
        f"applied project {result.project}: entities {result.entities}, "
        f"feature views {result.feature_views}, on-demand {result.on_demand_feature_views}, "
        f"services {result.feature_services}"
    )


@app.command("materialize", epilog=settings_epilog(TrainingSettings))
def materialize_command(
    incremental: bool = typer.Option(
        False,
        "--incremental",
        help="Load only what changed since the last run, up to now (the CronJob); a full backfill "
        "when the online store lost its materialization marker.",
    ),
) -> None:
    """Load each applicant's latest profile into the online store and write the marker serving checks."""
    from feature_store import FeatureStoreConfigError
    from training.jobs import materialize_features

    try:
        window = materialize_features(training_settings(), incremental=incremental)
    except FeatureStoreConfigError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"materialized {window}")

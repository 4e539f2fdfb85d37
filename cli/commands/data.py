"""``credit-scoring data prepare``: write the offline Parquet tables."""

from __future__ import annotations

import typer

from cli.commands._settings import settings_epilog, training_settings
from training.settings import TrainingSettings

__all__ = ["app", "prepare_command"]

app = typer.Typer(help="Prepare the offline data (Feast's offline source).", no_args_is_help=True)


@app.command("prepare", epilog=settings_epilog(TrainingSettings))
def prepare_command() -> None:
    """Write applicant_profile.parquet and applications.parquet into $CREDIT_HOME/data."""
    from training.jobs import prepare_data

    prepared = prepare_data(training_settings())
    typer.echo(
        f"{len(prepared.applications)} applications, {len(prepared.profile)} profile versions "
        f"({prepared.profile['applicant_id'].nunique()} applicants) -> {prepared.data_dir}"
    )

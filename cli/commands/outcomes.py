"""``credit-scoring outcomes load FILE``: loan outcomes into the table beside the inference log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands._settings import fail, settings_epilog
from inference_log.settings import InferenceLogSettings

__all__ = ["app", "load_command"]

app = typer.Typer(help="Loan outcomes for realised-performance monitoring.", no_args_is_help=True)


@app.command("load", epilog=settings_epilog(InferenceLogSettings))
def load_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV or Parquet with application_id, defaulted (0/1), observed_at (ISO 8601).",
        ),
    ],
) -> None:
    """Upsert FILE into outcomes (idempotent; a later observation replaces an earlier one)."""
    from sqlalchemy.exc import SQLAlchemyError

    from inference_log import InferenceLogSettings, create_log_engine
    from monitoring.outcomes import OutcomeFileError, load_outcomes

    settings = InferenceLogSettings()
    engine = create_log_engine(settings.database_url(), settings.connect_timeout_seconds)
    try:
        result = load_outcomes(engine, file)
    except OutcomeFileError as exc:
        raise fail(f"nothing loaded: {exc}") from exc
    except SQLAlchemyError as exc:
        raise fail(f"outcomes database error: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    typer.echo(
        f"{result.rows} outcomes in {file}: {result.inserted} new, {result.updated} updated, "
        f"{result.unchanged} already loaded"
    )

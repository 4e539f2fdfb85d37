"""``credit-scoring audit erase|purge``: the audit attributes kept in the inference log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from cli.commands._settings import settings_epilog
from inference_log.settings import InferenceLogSettings

__all__ = ["app", "erase_command", "purge_command"]

app = typer.Typer(
    help="Audit attributes (age band, marital status) in the inference log: erasure and retention.",
    no_args_is_help=True,
)


@app.command("erase", epilog=settings_epilog(InferenceLogSettings))
def erase_command(
    applicant_id: Annotated[
        str, typer.Argument(help="The lender's applicant id (hashed as the log hashes it).")
    ],
) -> None:
    """Erase the audit attributes of every logged decision of APPLICANT_ID (decisions stay)."""
    from inference_log import ApplicantHasher, InferenceLogSettings, create_log_engine
    from monitoring.audit_retention import erase_applicant

    settings = InferenceLogSettings()
    engine = create_log_engine(settings.database_url(), settings.connect_timeout_seconds)
    try:
        erased = erase_applicant(engine, ApplicantHasher.from_settings(settings)(applicant_id))
    finally:
        engine.dispose()
    typer.echo(f"erased the audit attributes of {erased} records")


@app.command("purge", epilog=settings_epilog(InferenceLogSettings))
def purge_command() -> None:
    """Erase audit attributes older than CREDIT_INFERENCE_LOG_AUDIT_RETENTION_DAYS (the drift job
    does this on every run)."""
    from inference_log import InferenceLogSettings, create_log_engine
    from monitoring.audit_retention import expire_audit_attributes

    settings = InferenceLogSettings()
    engine = create_log_engine(settings.database_url(), settings.connect_timeout_seconds)
    try:
        erased = expire_audit_attributes(engine, settings.audit_retention_days, datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(
        f"erased the audit attributes of {erased} records older than {settings.audit_retention_days} days"
    )

"""``python -m monitoring.drift``: the drift job (a Kubernetes CronJob).

1. Resolve the served version (``CREDIT_MODEL_NAME`` @ ``CREDIT_DRIFT_ALIAS``, or
   ``CREDIT_DRIFT_VERSION``) in the MLflow registry; download ``reference/reference.parquet``
   from that version's training run.
2. Read the last ``CREDIT_DRIFT_WINDOW_HOURS`` of the inference log (``CREDIT_INFERENCE_LOG_URL``):
   champion records of that version, plus shadow challenger records for the agreement rate.
3. PSI on fixed reference deciles for every model feature (CSI) and the score, Evidently's
   ``DataDriftPreset`` (per-feature drift, drifted share), approval rate, score-band mix.
4. Realised performance of the version on matured loan outcomes (``monitoring.performance``:
   AUC, KS, default rate by band) and approval-rate AIR by age band and marital status from the
   audit attributes in the log; audit attributes past their retention are erased.
5. Save the Evidently HTML/JSON and a summary as an MLflow run (experiment ``credit-drift``),
   push gauges to the Pushgateway (``CREDIT_PUSHGATEWAY_URL``; job ``credit-drift``, grouped by
   model and version), retire gauge groups of versions no alias serves, and record the result in
   the ``drift_runs`` table next to the inference log (read by ``/monitoring``).

Exit status: 0 when the assessment completed (including ``insufficient_data``: too few records
is a status, not an alarm); 1 on any failure, with a one-line reason; 2 on invalid settings.
Any failure once the version is resolved, expected (a store down) or not (a bug, a corrupt
record), also marks that version's gauge group ``status="failed"`` in the Pushgateway.
The summary JSON is printed on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from credit_scoring.audit import AIR_THRESHOLD
from credit_scoring.errors import CreditScoringError
from credit_scoring.settings_help import environment_help
from inference_log import LOG_TABLE, InferenceLogSettings, create_log_engine
from inference_log.drift_runs import record_result
from monitoring.analysis import DriftResult, Thresholds, assess
from monitoring.audit_retention import expire_audit_attributes
from monitoring.performance import production_fairness, realised_performance
from monitoring.publish import log_mlflow_run, push_failure, push_result, retire_groups
from monitoring.reference import ReferenceSample, live_versions, load_reference
from monitoring.settings import DriftSettings
from monitoring.window import Window, empty_window, load_window

__all__ = ["main", "run"]

log = logging.getLogger("monitoring.drift")


def _window(engine: sa.Engine, settings: DriftSettings, version: str, now: datetime) -> Window:
    start = now - timedelta(hours=settings.drift_window_hours)
    if not sa.inspect(engine).has_table(LOG_TABLE.name):
        # Nothing was ever logged here: an empty window (insufficient data), not an error.
        return empty_window(start, now)
    return load_window(engine, settings.model_name, version, start, now, settings.drift_max_records)


def _development_auc(client: Any, run_id: str) -> float | None:
    """The version's out-of-time test AUC, as its training run recorded it."""
    from mlflow.exceptions import MlflowException

    try:
        value = client.get_run(run_id).data.metrics.get("test_auc")
    except (MlflowException, OSError) as exc:
        log.warning("could not read the training run's test AUC: %s", exc)
        return None
    return None if value is None else float(value)


def _outcomes_and_fairness(
    engine: sa.Engine,
    client: Any,
    settings: DriftSettings,
    sample: ReferenceSample,
    window: Window,
    result: DriftResult,
) -> None:
    """Realised performance of the version on matured outcomes, and production fairness."""
    floor = float(sample.model.tags.get("fairness_exception_air_floor", AIR_THRESHOLD))
    bands = [b.name for b in sample.policy.bands] if sample.policy is not None else None
    result.realised = realised_performance(
        engine,
        sample.model.name,
        sample.model.version,
        window_days=settings.performance_window_days,
        min_matured=settings.outcomes_min_matured,
        band_order=bands,
        development_auc=_development_auc(client, sample.model.run_id),
    )
    result.fairness = production_fairness(
        engine, sample.model.name, sample.model.version, window.start, window.end, floor
    )
    log.info(
        "outcomes: %d matured of %d joined (%d decisions with an application id); fairness: %d records",
        result.realised.matured,
        result.realised.outcomes_joined,
        result.realised.decisions_with_id,
        result.fairness.records,
    )


def run(
    settings: DriftSettings,
    log_settings: InferenceLogSettings,
    client: Any,
    sample: ReferenceSample,
    now: datetime | None = None,
) -> tuple[DriftResult, str]:
    """One drift assessment of ``sample``'s model version, published; returns it and its MLflow run."""
    now = now or datetime.now(UTC)
    log.info(
        "reference: %s v%s (run %s), %d rows",
        sample.model.name,
        sample.model.version,
        sample.model.run_id,
        len(sample.frame),
    )
    engine = create_log_engine(log_settings.database_url(), log_settings.connect_timeout_seconds)
    try:
        window = _window(engine, settings, sample.model.version, now)
        log.info(
            "window %s .. %s: %d champion records, %d challenger records",
            window.start.isoformat(),
            window.end.isoformat(),
            len(window.champion),
            len(window.challenger),
        )
        limits = Thresholds(
            min_records=settings.drift_min_records,
            psi_bins=settings.drift_psi_bins,
            psi_warning=settings.drift_psi_warning,
            psi_critical=settings.drift_psi_critical,
            drift_share=settings.drift_share_threshold,
        )
        result, evidently = assess(sample, window, limits)
        _outcomes_and_fairness(engine, client, settings, sample, window, result)
        result.audit_attributes_expired = expire_audit_attributes(
            engine, log_settings.audit_retention_days, now
        )
        run_id = log_mlflow_run(client, settings.drift_experiment, result, evidently)
        if settings.pushgateway_url:
            push_result(
                settings.pushgateway_url,
                settings.drift_job_name,
                result,
                settings.pushgateway_timeout_seconds,
            )
            keep = live_versions(client, settings.model_name) | {result.model_version}
            retired = retire_groups(
                settings.pushgateway_url,
                settings.drift_job_name,
                settings.model_name,
                keep,
                settings.pushgateway_timeout_seconds,
            )
            if retired:
                log.info("retired drift gauges of versions no alias serves: %s", ", ".join(retired))
        else:
            log.warning("CREDIT_PUSHGATEWAY_URL is not set: no gauges pushed")
        record_result(engine, result.as_dict(), run_id, now)
    finally:
        engine.dispose()
    return result, run_id


def _parser() -> argparse.ArgumentParser:
    settings = "\n".join(environment_help(DriftSettings, InferenceLogSettings))
    return argparse.ArgumentParser(
        prog="python -m monitoring.drift",
        description=__doc__,
        epilog=f"{settings}\n\nMLflow and S3 use their standard variables (MLFLOW_TRACKING_URI, "
        "MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _mark_failed(settings: DriftSettings, version: str | None) -> None:
    """Once the version is known, its gauge group says ``failed`` (best effort)."""
    if settings.pushgateway_url and version:
        push_failure(
            settings.pushgateway_url,
            settings.drift_job_name,
            settings.model_name,
            version,
            settings.pushgateway_timeout_seconds,
        )


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything reads a setting or contacts a server: `--help` only prints.
    _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        settings = DriftSettings()
        log_settings = InferenceLogSettings()
    except ValidationError as exc:
        log.error("invalid drift job settings: %s", exc)
        return 2
    # The MLflow client reads its HTTP behaviour from the environment only.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.mlflow_max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    from mlflow import MlflowClient

    client = MlflowClient()
    version: str | None = None  # known once resolved in the registry
    try:
        # stdout carries only the summary JSON (MLflow's client prints run links there).
        with contextlib.redirect_stdout(sys.stderr):
            sample = load_reference(client, settings.model_name, settings.drift_alias, settings.drift_version)
            version = sample.model.version
            result, run_id = run(settings, log_settings, client, sample)
    except (CreditScoringError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if isinstance(exc, SQLAlchemyError):
            reason = f"inference log database error: {reason}"
        log.error("drift job failed: %s", reason)
        _mark_failed(settings, version)
        return 1
    except Exception:
        # The job's top boundary: whatever else broke, say so with the trace, mark the version's
        # group failed like any other failure, and exit non-zero for the CronJob.
        log.exception("drift job failed with an unexpected error")
        _mark_failed(settings, version)
        return 1
    print(json.dumps({**result.as_dict(), "mlflow_run_id": run_id}, indent=2))
    log.info("drift status %s: %s", result.status.value, result.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())

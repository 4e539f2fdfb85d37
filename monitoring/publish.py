"""Where a drift result goes: Pushgateway gauges, an MLflow run with the reports, the results table."""

from __future__ import annotations

import json
import logging
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)

from credit_scoring.audit import MIN_GROUP, UNKNOWN
from credit_scoring.errors import CreditScoringError, RegistryUnavailable
from monitoring.analysis import DriftResult, Status
from monitoring.evidently_drift import EvidentlyDrift
from monitoring.performance import FairnessView, RealisedPerformance

__all__ = ["PushgatewayUnavailable", "log_mlflow_run", "push_failure", "push_result", "retire_groups"]

log = logging.getLogger(__name__)


class PushgatewayUnavailable(CreditScoringError):
    status_code = 503


def _gauge(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
    return Gauge(name, doc, list(labels), registry=registry)


def _status_gauge(registry: CollectorRegistry, status: Status) -> None:
    gauge = _gauge(registry, "credit_drift_status", "1 for the status of the last drift run.", ("status",))
    for s in Status:
        gauge.labels(s.value).set(1.0 if s is status else 0.0)


def build_registry(result: DriftResult, now: float) -> CollectorRegistry:
    """The gauges of one run. Insufficient data pushes no PSI or drift share at all, so a quiet
    day cannot look like a stable (or drifting) population."""
    registry = CollectorRegistry()
    _status_gauge(registry, result.status)
    _gauge(registry, "credit_drift_records", "Inference-log records in the drift window.").set(result.records)
    _gauge(
        registry,
        "credit_drift_last_success_timestamp_seconds",
        "When the drift job last completed (Unix time).",
    ).set(now)
    if result.status is not Status.INSUFFICIENT_DATA:
        psi = _gauge(
            registry,
            "credit_feature_psi",
            "PSI of a model feature on fixed reference deciles (CSI).",
            ("feature",),
        )
        for feature, value in result.feature_psi.items():
            psi.labels(feature).set(value)
        drifted = _gauge(
            registry, "credit_feature_drifted", "1 if Evidently detects drift in the feature.", ("feature",)
        )
        for feature, flag in result.feature_drifted.items():
            drifted.labels(feature).set(1.0 if flag else 0.0)
        _gauge(registry, "credit_score_psi", "PSI of the score on fixed reference deciles.").set(
            result.score_psi or 0.0
        )
        _gauge(registry, "credit_drift_share", "Share of model features Evidently finds drifted.").set(
            result.drift_share or 0.0
        )
        if result.approval_rate is not None:
            _gauge(registry, "credit_approval_rate", "Share of approvals in the drift window.").set(
                result.approval_rate
            )
        bands = _gauge(
            registry, "credit_score_band_share", "Share of the window in each risk band.", ("band",)
        )
        for band, share in result.score_band_share.items():
            bands.labels(band).set(share)
    if result.champion_challenger_agreement is not None:
        _gauge(
            registry,
            "credit_champion_challenger_agreement",
            "Share of shadow-scored rows where champion and challenger decide alike.",
        ).set(result.champion_challenger_agreement)
    if result.realised is not None:
        _realised_gauges(registry, result.realised)
    if result.fairness is not None:
        _fairness_gauges(registry, result.fairness)
    _challenger_gauges(registry, result)
    return registry


# Gauge name -> (key in DriftResult.challengers[version], help text).
_CHALLENGER_GAUGES = {
    "credit_challenger_decision_flip_rate": (
        "decision_flip_rate",
        "Share of shadow pairs where the challenger decides differently from the champion.",
    ),
    "credit_challenger_score_delta": (
        "mean_score_delta",
        "Mean challenger score minus champion score on shadow pairs (points).",
    ),
    "credit_challenger_approval_rate_difference": (
        "approval_rate_difference",
        "Challenger approval rate minus the champion's (shadow pairs, else split populations).",
    ),
    "credit_challenger_score_psi": (
        "score_psi",
        "PSI of the challenger's scores on the champion's score deciles.",
    ),
}


def _challenger_gauges(registry: CollectorRegistry, result: DriftResult) -> None:
    """The champion-challenger comparison (``monitoring.comparison``), one series per challenger
    version in the window; a figure without data (no shadow pairs) is not pushed at all."""
    if not result.challengers:
        return
    records = _gauge(
        registry,
        "credit_challenger_records",
        "Challenger records compared with the champion, by kind (shadow pairs, split).",
        ("challenger_version", "kind"),
    )
    swaps = _gauge(
        registry,
        "credit_challenger_swaps",
        "Shadow pairs the challenger swaps in (approves, champion did not) or out (the reverse).",
        ("challenger_version", "direction"),
    )
    swap_rates = _gauge(
        registry,
        "credit_challenger_swap_rate",
        "Swap-in / swap-out pairs over all shadow pairs.",
        ("challenger_version", "direction"),
    )
    figures = {
        name: _gauge(registry, name, doc, ("challenger_version",))
        for name, (_key, doc) in _CHALLENGER_GAUGES.items()
    }
    for version, c in result.challengers.items():
        records.labels(version, "shadow").set(c["shadow_pairs"])
        records.labels(version, "split").set(c["split_records"])
        if c["shadow_pairs"]:
            for direction in ("in", "out"):
                swaps.labels(version, direction).set(c[f"swap_{direction}"])
                swap_rates.labels(version, direction).set(c[f"swap_{direction}_rate"])
        for name, (key, _doc) in _CHALLENGER_GAUGES.items():
            if c.get(key) is not None:
                figures[name].labels(version).set(c[key])


def _realised_gauges(registry: CollectorRegistry, realised: RealisedPerformance) -> None:
    """Matured outcomes always; the realised metrics only from ``min_matured`` outcomes on, so a
    handful of early defaults cannot look like a collapsed model."""
    _gauge(registry, "credit_outcomes_matured", "Matured loan outcomes of the version's decisions.").set(
        realised.matured
    )
    if realised.development_auc is not None:
        _gauge(registry, "credit_development_auc", "The version's out-of-time test AUC at training.").set(
            realised.development_auc
        )
    if not realised.enough:
        return
    if realised.default_rate is not None:
        _gauge(registry, "credit_realised_default_rate", "Default rate of matured outcomes.").set(
            realised.default_rate
        )
    if realised.auc is not None:
        _gauge(registry, "credit_realised_auc", "AUC of the PD against matured outcomes.").set(realised.auc)
    if realised.ks is not None:
        _gauge(registry, "credit_realised_ks", "KS of the PD against matured outcomes.").set(realised.ks)
    labels = ("band",)
    rate = _gauge(
        registry, "credit_realised_band_default_rate", "Realised default rate per risk band.", labels
    )
    expected = _gauge(
        registry, "credit_expected_band_default_rate", "Mean PD of the band's matured outcomes.", labels
    )
    upper = _gauge(
        registry,
        "credit_band_default_rate_upper",
        "Binomial 97.5% upper bound of the band's default rate at its expected rate.",
        labels,
    )
    count = _gauge(registry, "credit_realised_band_outcomes", "Matured outcomes per risk band.", labels)
    for band in realised.bands:
        rate.labels(band.band).set(band.realised_default_rate)
        expected.labels(band.band).set(band.expected_default_rate)
        upper.labels(band.band).set(band.upper_default_rate)
        count.labels(band.band).set(band.outcomes)


def _fairness_gauges(registry: CollectorRegistry, fairness: FairnessView) -> None:
    _gauge(
        registry, "credit_audit_records", "Decisions in the window with audit attributes (age band, marital)."
    ).set(fairness.records)
    _gauge(
        registry,
        "credit_approval_air_floor",
        "Lowest approval AIR the version was accepted with (0.8, or its fairness exception's floor).",
    ).set(fairness.air_floor)
    air = _gauge(
        registry,
        "credit_approval_air",
        "Approval-rate adverse-impact ratio per audit group (groups of at least 30 decisions).",
        ("attribute", "group"),
    )
    for attribute, groups in fairness.groups.items():
        for g in groups:
            if g["count"] >= MIN_GROUP and g["group"] != UNKNOWN and g["air"] == g["air"]:  # NaN != NaN
                air.labels(attribute, g["group"]).set(g["air"])
    lowest = _gauge(
        registry, "credit_approval_air_min", "Lowest approval AIR per audit attribute.", ("attribute",)
    )
    for attribute, value in fairness.minimum.items():
        lowest.labels(attribute).set(value)


def _grouping(result: DriftResult) -> dict[str, str]:
    return {"model": result.model_name, "version": result.model_version}


def push_result(url: str, job: str, result: DriftResult, timeout: float) -> None:
    """Replace the (job, model, version) group with this run's gauges."""
    registry = build_registry(result, time.time())
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=_grouping(result), timeout=timeout)
    except OSError as exc:  # URLError / HTTPError / socket errors
        raise PushgatewayUnavailable(f"Pushgateway {url} refused the drift metrics: {exc}") from exc


def push_failure(url: str, job: str, model: str, version: str, timeout: float) -> None:
    """Best effort: mark the group failed, keeping the last successful run's gauges."""
    registry = CollectorRegistry()
    _status_gauge(registry, Status.FAILED)
    _gauge(
        registry, "credit_drift_last_failure_timestamp_seconds", "When the drift job last failed (Unix time)."
    ).set(time.time())
    try:
        pushadd_to_gateway(
            url,
            job=job,
            registry=registry,
            grouping_key={"model": model, "version": version},
            timeout=timeout,
        )
    except OSError as exc:
        log.warning("could not report the failure to the Pushgateway either: %s", exc)


def retire_groups(url: str, job: str, model: str, keep_versions: set[str], timeout: float) -> list[str]:
    """Delete gauge groups of versions no alias points to any more, so their last PSI cannot
    keep an alert firing for a model that no longer serves. Returns the versions retired."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/metrics", timeout=timeout) as resp:  # noqa: S310
            groups = json.load(resp)["data"]
    except (OSError, ValueError, KeyError) as exc:
        raise PushgatewayUnavailable(f"Pushgateway {url} group listing failed: {exc}") from exc
    retired = []
    for group in groups:
        labels = group.get("labels", {})
        if (
            labels.get("job") == job
            and labels.get("model") == model
            and labels.get("version") not in keep_versions
        ):
            version = labels.get("version", "")
            try:
                delete_from_gateway(
                    url, job=job, grouping_key={"model": model, "version": version}, timeout=timeout
                )
            except OSError as exc:
                raise PushgatewayUnavailable(
                    f"Pushgateway {url} refused to delete {quote(version)}: {exc}"
                ) from exc
            retired.append(version)
    return retired


def log_mlflow_run(
    client: Any, experiment: str, result: DriftResult, evidently: EvidentlyDrift | None
) -> str:
    """One MLflow run per drift run: metrics, the Evidently HTML and JSON, and the summary."""
    from botocore.exceptions import BotoCoreError, ClientError
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(experiment_id, run_name=f"{result.model_name}-v{result.model_version}-drift")
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric(f"psi/{k}", v, now, 0) for k, v in result.feature_psi.items()]
        for key in ("score_psi", "drift_share", "approval_rate", "champion_challenger_agreement"):
            value = getattr(result, key)
            if value is not None:
                metrics.append(Metric(key, float(value), now, 0))
        metrics.append(Metric("records", float(result.records), now, 0))
        if result.realised is not None:
            metrics.append(Metric("outcomes_matured", float(result.realised.matured), now, 0))
            for key in ("auc", "ks", "default_rate"):
                value = getattr(result.realised, key)
                if value is not None:
                    metrics.append(Metric(f"realised_{key}", float(value), now, 0))
        if result.fairness is not None:
            metrics += [
                Metric(f"approval_air_min/{k}", v, now, 0) for k, v in result.fairness.minimum.items()
            ]
        params = [
            Param("model_name", result.model_name),
            Param("model_version", result.model_version),
            Param("model_alias", str(result.model_alias)),
            Param("window_start", result.window_start),
            Param("window_end", result.window_end),
        ]
        tags = [RunTag("drift_status", result.status.value), RunTag("model_version", result.model_version)]
        client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        with tempfile.TemporaryDirectory(prefix="credit-drift-") as tmp:
            root = Path(tmp)
            (root / "drift_summary.json").write_text(json.dumps(result.as_dict(), indent=2))
            if evidently is not None:
                (root / "evidently_report.html").write_text(evidently.html(), encoding="utf-8")
                (root / "evidently_report.json").write_text(evidently.json(), encoding="utf-8")
            client.log_artifacts(run_id, str(root), artifact_path="drift")
        client.set_terminated(run_id, "FINISHED")
    except (MlflowException, OSError, BotoCoreError, ClientError) as exc:  # S3 errors are botocore's
        raise RegistryUnavailable(f"could not save the drift report to MLflow: {exc}") from exc
    return str(run_id)

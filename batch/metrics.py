"""The run's metrics, pushed to the Prometheus Pushgateway when a run ends (success or failure).

Grouping key ``job="credit-batch-score", portfolio=<name>``: one group per portfolio, so a
monthly behaviour-score run and a daily pre-approval run are watched apart. A successful run
pushes everything; a failed run adds only its failure time and duration (``pushadd``: POST),
so the last success stays visible. ``charts/credit-scoring/files/rules/batch.yaml`` alerts when
the last run failed or when no run succeeded within ``credit_batch_max_age_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["JOB", "push_failure", "push_quietly", "push_success"]

log = logging.getLogger(__name__)
JOB = "credit-batch-score"
DECISIONS = ("approve", "refer", "decline")


def _registry() -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


def _push(url: str, portfolio: str, registry: CollectorRegistry, replace: bool) -> None:
    from prometheus_client import push_to_gateway, pushadd_to_gateway

    push = push_to_gateway if replace else pushadd_to_gateway
    push(url, job=JOB, registry=registry, grouping_key={"portfolio": portfolio}, timeout=10)


def push_success(
    url: str,
    portfolio: str,
    *,
    rows: int,
    scored: int,
    rejected: int,
    thin_files: int,
    decisions: Mapping[str, int],
    seconds: float,
    max_age_seconds: float,
    model_version: str,
    engine: str,
) -> None:
    from prometheus_client import Gauge

    registry = _registry()

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, registry=registry).set(value)

    gauge("credit_batch_rows", "Rows read by the last successful run", rows)
    gauge("credit_batch_scored_rows", "Applications scored by the last successful run", scored)
    gauge("credit_batch_rejected_rows", "Rows rejected by the last successful run (invalid input)", rejected)
    gauge(
        "credit_batch_thin_file_rows",
        "Scored applications without a profile at their point in time",
        thin_files,
    )
    gauge("credit_batch_duration_seconds", "Duration of the last run", seconds)
    gauge("credit_batch_last_success_timestamp_seconds", "When the last successful run ended", time.time())
    gauge(
        "credit_batch_max_age_seconds",
        "Age of the last success after which the run is overdue",
        max_age_seconds,
    )
    by_decision = Gauge(
        "credit_batch_decisions",
        "Applications by decision in the last successful run",
        ["decision"],
        registry=registry,
    )
    for decision in DECISIONS:
        by_decision.labels(decision=decision).set(decisions.get(decision, 0))
    info = Gauge(
        "credit_batch_run_info",
        "Model version and engine of the last successful run",
        ["model_version", "engine"],
        registry=registry,
    )
    info.labels(model_version=model_version, engine=engine).set(1)
    # A success replaces the whole group, a past failure included.
    _push(url, portfolio, registry, replace=True)


def push_failure(url: str, portfolio: str, *, seconds: float, max_age_seconds: float) -> None:
    from prometheus_client import Gauge

    registry = _registry()
    Gauge(
        "credit_batch_last_failure_timestamp_seconds", "When the last failed run ended", registry=registry
    ).set(time.time())
    Gauge("credit_batch_duration_seconds", "Duration of the last run", registry=registry).set(seconds)
    Gauge(
        "credit_batch_max_age_seconds",
        "Age of the last success after which the run is overdue",
        registry=registry,
    ).set(max_age_seconds)
    _push(url, portfolio, registry, replace=False)


def push_quietly(push: Callable[..., None], *args: object, **kwargs: object) -> str | None:
    """Push; a Pushgateway that cannot be reached is logged, never the run's failure."""
    try:
        push(*args, **kwargs)
    except OSError as exc:
        log.warning("could not push the run's metrics to the Pushgateway: %s", exc)
        return str(exc)
    return None

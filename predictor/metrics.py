"""The predictor's Prometheus metrics (names are a contract: docs/architecture.md, rules, dashboards).

They live in the default registry, which KServe exposes on the REST port at ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

__all__ = ["PredictorMetrics"]


@dataclass
class PredictorMetrics:
    served_version: Gauge
    registry_version: Gauge
    ready: Gauge
    reloads: Counter
    registry_poll_failures: Counter
    rows: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> PredictorMetrics:
        return cls(
            served_version=Gauge(
                "credit_model_served_version",
                "Registry version of the model being served (0 before the first load).",
                ["model", "alias"],
                registry=registry,
            ),
            registry_version=Gauge(
                "credit_model_registry_version",
                "Version the alias pointed to at the last successful poll.",
                ["model", "alias"],
                registry=registry,
            ),
            ready=Gauge(
                "credit_model_ready",
                "1 when a model version is loaded and serving.",
                ["model"],
                registry=registry,
            ),
            reloads=Counter(
                "credit_model_reloads",
                "Attempts to load a model version, by outcome.",
                ["model", "outcome"],
                registry=registry,
            ),
            registry_poll_failures=Counter(
                "credit_model_registry_poll_failures",
                "Polls of the registry alias that failed (MLflow unreachable or erroring); the loaded "
                "model keeps serving.",
                ["model", "alias"],
                registry=registry,
            ),
            rows=Counter("credit_predict_rows", "Rows scored.", ["model"], registry=registry),
        )

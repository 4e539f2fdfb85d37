"""The transformer's Prometheus metrics (names are the contract in docs/architecture.md).

They live in the default registry, which KServe's ``/metrics`` route already serves next to its
own ``request_preprocess_seconds`` / ``request_predict_seconds`` / ``request_postprocess_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Hashable, Iterator, MutableMapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = [
    "APPLICATIONS",
    "DEPENDENCY_FAILURES",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "REASON_CODES",
    "REFUSAL_REASONS",
    "REFUSED",
    "SCORE",
    "SHADOW_SKIPPED",
    "STAGE_DURATION",
    "THIN_FILES",
    "HttpMetricsMiddleware",
    "observe_answers",
    "observe_http",
    "stage",
]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

HTTP_REQUESTS = Counter(
    "credit_http_requests_total", "HTTP requests by route and status code.", ["route", "status"]
)
HTTP_DURATION = Histogram(
    "credit_http_request_duration_seconds",
    "HTTP request duration by route.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
STAGE_DURATION = Histogram(
    "credit_stage_duration_seconds",
    "Time per scoring stage (validate, features, predict, answer).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
APPLICATIONS = Counter(
    "credit_applications_total",
    "Scored applications by decision, model version and role.",
    ["decision", "model_version", "role"],
)


class ScoreHistogram(Collector):
    """``credit_score{model_version}``, a histogram filled a batch at a time.

    ``prometheus_client.Histogram.observe`` takes a lock twice and scans the bucket bounds in
    Python for every value: 9 µs per application on the batch path (measured in-process on the
    loaded machine). Here one ``searchsorted`` and one ``bincount`` per batch fill the same
    buckets (``value <= le``) and sum; the exposition is the same ``_bucket``/``_count``/``_sum``
    series (without the ``_created`` sample, which nothing reads)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self._les = [floatToGoString(b) for b in buckets] + ["+Inf"]
        self._series: dict[str, tuple[np.ndarray, list[float]]] = {}
        self._lock = threading.Lock()

    def observe_many(self, model_version: str, scores: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(scores, dtype=np.float64)
        counts = np.bincount(np.searchsorted(self.bounds, values, side="left"), minlength=len(self._les))
        total = float(values.sum())
        with self._lock:
            series = self._series.get(model_version)
            if series is None:
                series = self._series[model_version] = (np.zeros(len(self._les), dtype=np.int64), [0.0])
            series[0][:] += counts
            series[1][0] += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["model_version"])
        with self._lock:
            snapshot = [(v, counts.cumsum().tolist(), acc[0]) for v, (counts, acc) in self._series.items()]
        for version, cumulative, total in snapshot:
            family.add_metric([version], list(zip(self._les, cumulative, strict=True)), total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=["model_version"])


SCORE = ScoreHistogram(
    "credit_score", "Scores given, by model version.", buckets=tuple(float(s) for s in range(350, 901, 25))
)
REGISTRY.register(SCORE)
REASON_CODES = Counter("credit_reason_codes_total", "Adverse-action reason codes given.", ["code"])
THIN_FILES = Counter(
    "credit_thin_file_applications_total",
    "Applications answered as thin files (no profile in the online store), by role.",
    ["role"],
)
DEPENDENCY_FAILURES = Counter(
    "credit_dependency_failures_total",
    "Calls to a dependency that failed (feature_store, predictor).",
    ["dependency"],
)
REFUSAL_REASONS = ("missing", "invalid_key", "invalid_token", "expired", "unknown_kid", "rate_limited")
"""Why a request was refused at admission; a fixed set, so a caller cannot mint label values."""
REFUSED = Counter(
    "credit_requests_refused_total",
    "Requests refused by the transformer's guard (HTTP and gRPC), by reason: no credential, an API "
    "key or JWT that does not verify, an expired JWT, a JWT signed by an unknown key, or the "
    "client's rate limit.",
    ["reason"],
)
SHADOW_SKIPPED = Counter(
    "credit_shadow_skipped_total",
    "Applications not shadow-scored: the shadow queue was full (challenger slow or down) or shutdown.",
)

for _stage in ("validate", "features", "predict", "answer"):
    STAGE_DURATION.labels(stage=_stage)
for _dependency in ("feature_store", "predictor", "shadow_predictor"):
    DEPENDENCY_FAILURES.labels(dependency=_dependency)
for _reason in REFUSAL_REASONS:
    REFUSED.labels(reason=_reason)
for _role in ("champion", "challenger"):
    THIN_FILES.labels(role=_role)  # present from the start, so rates over it start at 0


# Label children by label values, looked up once: ``labels()`` validates and locks on every
# call, which several times per request cost more than the updates. Nothing here ever removes a
# child, so a cached one stays the one the registry exports. Label sets are bounded by
# construction (stages, decisions x versions x roles, reason codes, route templates x statuses).
_CHILDREN: dict[tuple[int, Hashable], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


class _StageTimer:
    """``with stage(name):`` times the block into ``credit_stage_duration_seconds``, raised or not."""

    __slots__ = ("_histogram", "_start")

    def __init__(self, histogram: Any) -> None:
        self._histogram = histogram
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._histogram.observe(time.perf_counter() - self._start)


def stage(name: str) -> _StageTimer:
    return _StageTimer(_child(STAGE_DURATION, name))


def observe_answers(answers: Sequence[dict[str, Any]], role: str) -> None:
    """Decisions, scores and reason codes of one batch (counted first: one metric update per label set)."""
    decisions = Tally((a["decision"], a["model"]["version"]) for a in answers)
    for (decision, version), n in decisions.items():
        _child(APPLICATIONS, decision, version, role).inc(n)
    _child(THIN_FILES, role).inc(sum(1 for a in answers if a["thin_file"]))
    codes = Tally(r["code"] for a in answers for r in a["reasons"])
    for code, n in codes.items():
        _child(REASON_CODES, code).inc(n)
    if answers:
        SCORE.observe_many(answers[0]["model"]["version"], [a["score"] for a in answers])


def observe_http(route: str, status: int, seconds: float) -> None:
    """One answer of a fast route (``serving.asgi.Router``); the middleware counts the others."""
    _child(HTTP_REQUESTS, route, str(status)).inc()
    _child(HTTP_DURATION, route).observe(seconds)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class HttpMetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body copy) counting requests by route template."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # The route template, never the raw path: unknown paths must not mint label values.
            name = getattr(route, "path", None) or "unmatched"
            _child(HTTP_REQUESTS, name, str(status)).inc()
            _child(HTTP_DURATION, name).observe(time.perf_counter() - start)

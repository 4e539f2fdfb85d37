"""The challenger's live behaviour from Prometheus, against the champion's, over the split window.

Three figures, each as PromQL over metrics the platform already exports (docs/architecture.md);
predictor series carry ``role`` (champion|challenger) from the chart's PodMonitor relabelling:

- error rate: failed predictor calls the transformer counted (``credit_dependency_failures_total``:
  ``predictor`` for the champion, ``challenger_predictor``/``shadow_predictor`` for the challenger)
  over all calls to that side (the predictor's own ``request_predict_seconds_count`` plus failures);
- p99 of the predictor's ``request_predict_seconds`` per role;
- the score (hence PD) distribution: PSI between the ``credit_score`` histograms of the two versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from credit_scoring.errors import CreditScoringError
from monitoring.psi import psi

__all__ = ["LiveFigures", "PrometheusUnavailable", "live_figures", "queries"]

_FAILURES = {
    "champion": 'dependency="predictor"',
    "challenger": 'dependency=~"challenger_predictor|shadow_predictor"',
}


class PrometheusUnavailable(CreditScoringError):
    status_code = 503


@dataclass(frozen=True)
class LiveFigures:
    calls: dict[str, float]
    error_rate: dict[str, float | None]
    p99_seconds: dict[str, float | None]
    score_psi: float | None


def queries(window: str) -> dict[str, str]:
    """The PromQL, by figure and side (``{role}`` filled in): one place to read and review."""
    out = {}
    for role, failures in _FAILURES.items():
        calls = (
            f'sum(increase(request_predict_seconds_count{{component="predictor",role="{role}"}}[{window}]))'
        )
        failed = f"sum(increase(credit_dependency_failures_total{{{failures}}}[{window}]))"
        out[f"calls_{role}"] = calls
        out[f"failures_{role}"] = failed
        out[f"p99_{role}"] = (
            "histogram_quantile(0.99, sum by (le) "
            f'(rate(request_predict_seconds_bucket{{component="predictor",role="{role}"}}[{window}])))'
        )
    return out


def _scalar(prometheus: str, expr: str, timeout: float) -> float | None:
    try:
        response = httpx.get(
            f"{prometheus.rstrip('/')}/api/v1/query", params={"query": expr}, timeout=timeout
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PrometheusUnavailable(f"Prometheus at {prometheus} did not answer: {exc}") from exc
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusUnavailable(f"Prometheus refused {expr!r}: {body.get('error', response.status_code)}")
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if np.isnan(value) else value


def _histogram(prometheus: str, version: str, window: str, timeout: float) -> dict[float, float]:
    expr = f'sum by (le) (increase(credit_score_bucket{{model_version="{version}"}}[{window}]))'
    try:
        body = httpx.get(
            f"{prometheus.rstrip('/')}/api/v1/query", params={"query": expr}, timeout=timeout
        ).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PrometheusUnavailable(f"Prometheus at {prometheus} did not answer: {exc}") from exc
    return {float(r["metric"]["le"]): float(r["value"][1]) for r in body.get("data", {}).get("result", [])}


def _shares(cumulative: dict[float, float], edges: list[float]) -> np.ndarray:
    counts = np.array([cumulative.get(e, 0.0) for e in edges])
    per_bin = np.diff(np.concatenate([[0.0], counts]))
    total = per_bin.sum()
    return per_bin / total if total > 0 else per_bin


def live_figures(
    prometheus: str, champion_version: str, challenger_version: str, window: str, timeout: float
) -> LiveFigures:
    q = queries(window)
    calls: dict[str, float] = {}
    error_rate: dict[str, float | None] = {}
    p99: dict[str, float | None] = {}
    for role in ("champion", "challenger"):
        ok = _scalar(prometheus, q[f"calls_{role}"], timeout) or 0.0
        failed = _scalar(prometheus, q[f"failures_{role}"], timeout) or 0.0
        calls[role] = ok + failed
        error_rate[role] = failed / calls[role] if calls[role] > 0 else None
        p99[role] = _scalar(prometheus, q[f"p99_{role}"], timeout)
    champion = _histogram(prometheus, champion_version, window, timeout)
    challenger = _histogram(prometheus, challenger_version, window, timeout)
    score_psi = None
    if champion and challenger:
        edges = sorted(set(champion) | set(challenger))
        a, b = _shares(champion, edges), _shares(challenger, edges)
        if a.sum() > 0 and b.sum() > 0:
            score_psi = psi(a, b)
    return LiveFigures(calls, error_rate, p99, score_psi)


def as_dict(figures: LiveFigures) -> dict[str, Any]:
    return {
        "calls": figures.calls,
        "error_rate": figures.error_rate,
        "p99_seconds": figures.p99_seconds,
        "score_psi": figures.score_psi,
    }

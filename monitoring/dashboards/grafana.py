"""Building blocks of the Grafana dashboards: targets, panels, layout, variables, the dashboard.

Every dashboard of ``monitoring.dashboards`` is made of these, so the JSON they produce has one
shape (one Prometheus data-source variable, panels flowed on Grafana's 24-column grid).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "DRIFT_GROUP",
    "DS",
    "RATE",
    "bars",
    "dashboard",
    "job_gauge",
    "panel",
    "quantiles",
    "series",
    "stat",
    "steps",
    "target",
    "targets",
    "var_query",
]

DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
DRIFT_GROUP = 'model=~"$model", version=~"$version"'
"""Label selector of the drift job's gauge groups chosen by the dashboards' model/version variables."""


def job_gauge(metric: str, *labels: str) -> str:
    """``metric`` of the drift job's gauge groups chosen by the variables (and ``labels``)."""
    return f"{metric}{{{', '.join((*labels, DRIFT_GROUP))}}}"


def target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: str = "time_series"
) -> dict[str, Any]:
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
        "instant": instant,
        "range": not instant,
        "format": fmt,
    }


def targets(pairs: Iterable[tuple[str, str]], **kwargs: Any) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i), **kwargs) for i, (expr, legend) in enumerate(pairs)]


def panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    w: int,
    h: int,
    **options: Any,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit}
    if "thresholds" in options:
        defaults["thresholds"] = {"mode": "absolute", "steps": options.pop("thresholds")}
    if "min" in options:
        defaults["min"] = options.pop("min")
    if "max" in options:
        defaults["max"] = options.pop("max")
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "gridPos": {"w": w, "h": h, "x": 0, "y": 0},
    }


def series(
    title: str, description: str, pairs: Iterable[tuple[str, str]], unit: str, w: int, h: int, **options: Any
) -> dict[str, Any]:
    """A time series of ``pairs`` (PromQL expression, legend)."""
    return panel("timeseries", title, description, targets(pairs), unit, w, h, **options)


def stat(
    title: str,
    description: str,
    pairs: Iterable[tuple[str, str]],
    unit: str,
    w: int,
    h: int,
    *,
    instant: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """A single-value panel of ``pairs``."""
    return panel("stat", title, description, targets(pairs, instant=instant), unit, w, h, **options)


def bars(
    title: str,
    description: str,
    pairs: Iterable[tuple[str, str]],
    unit: str,
    w: int,
    h: int,
    *,
    mode: str = "basic",
    **options: Any,
) -> dict[str, Any]:
    """Horizontal bars of the latest values of ``pairs`` (instant queries)."""
    return panel(
        "bargauge",
        title,
        description,
        targets(pairs, instant=True),
        unit,
        w,
        h,
        displayMode=mode,
        orientation="horizontal",
        **options,
    )


def steps(*pairs: tuple[float | None, str]) -> list[dict[str, Any]]:
    return [{"value": v, "color": c} for v, c in pairs]


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flow panels left to right, top to bottom, on Grafana's 24-column grid; number them."""
    x = y = row_h = 0
    for i, panel in enumerate(panels, start=1):
        pos = panel["gridPos"]
        if x + pos["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        pos["x"], pos["y"] = x, y
        x += pos["w"]
        row_h = max(row_h, pos["h"])
        panel["id"] = i
    return panels


def var_query(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
    time_from: str,
) -> dict[str, Any]:
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["credit-scoring"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "timezone": "utc",
        "templating": {"list": [datasource, *variables]},
        "annotations": {"list": []},
        "links": [],
        "panels": layout(panels),
    }


def quantiles(metric: str, by: str, legend: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by ({by}le) (rate({metric}_bucket[{RATE}])))",
            f"p{int(q * 100)} {legend}",
        )
        for q in (0.5, 0.99)
    ]

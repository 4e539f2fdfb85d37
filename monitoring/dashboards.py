"""Grafana dashboards (service, model, drift), generated as JSON for the Grafana sidecar.

``python -m monitoring.dashboards [DIR]`` writes ``credit-scoring-{service,model,drift}.json``
into ``DIR`` (default ``charts/credit-scoring/files/dashboards``, which the chart turns into
ConfigMaps). The committed files are this module's output; a test keeps them in sync, and
another runs every panel's PromQL against a real Prometheus that scraped the running services.
Metric names are the contract in docs/architecture.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARDS", "build", "write"]

DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
_DRIFT = 'model=~"$model", version=~"$version"'


def _target(
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


def _targets(pairs: Iterable[tuple[str, str]], **kwargs: Any) -> list[dict[str, Any]]:
    return [_target(expr, legend, chr(ord("A") + i), **kwargs) for i, (expr, legend) in enumerate(pairs)]


def _panel(
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


def _steps(*pairs: tuple[float | None, str]) -> list[dict[str, Any]]:
    return [{"value": v, "color": c} for v, c in pairs]


def _layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def _var_query(name: str, label: str, query: str) -> dict[str, Any]:
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


def _dashboard(
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
        "panels": _layout(panels),
    }


def _quantiles(metric: str, by: str, legend: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by ({by}le) (rate({metric}_bucket[{RATE}])))",
            f"p{int(q * 100)} {legend}",
        )
        for q in (0.5, 0.99)
    ]


def service() -> dict[str, Any]:
    panels = [
        _panel(
            "timeseries",
            "Request rate",
            "Requests per second by route and HTTP status.",
            _targets(
                [
                    (
                        f"sum by (route, status) (rate(credit_http_requests_total[{RATE}]))",
                        "{{route}} {{status}}",
                    )
                ]
            ),
            "reqps",
            12,
            8,
        ),
        _panel(
            "timeseries",
            "Latency p50 / p99",
            "End-to-end request latency at the transformer.",
            _targets(_quantiles("credit_http_request_duration_seconds", "", "")),
            "s",
            12,
            8,
        ),
        _panel(
            "timeseries",
            "Latency per stage p50 / p99",
            "Where the time goes: validate, features (Feast/Redis), predict (predictor call), answer.",
            _targets(_quantiles("credit_stage_duration_seconds", "stage, ", "{{stage}}")),
            "s",
            12,
            8,
        ),
        _panel(
            "timeseries",
            "KServe handler latency p99",
            "KServe's own preprocess / predict / postprocess histograms, per KServe model (transformer: "
            "credit-scoring, predictor: credit-risk).",
            _targets(
                [
                    (
                        f"histogram_quantile(0.99, sum by (model_name, le) "
                        f"(rate(request_{h}_seconds_bucket[{RATE}])))",
                        f"{h} {{{{model_name}}}}",
                    )
                    for h in ("preprocess", "predict", "postprocess")
                ]
            ),
            "s",
            12,
            8,
        ),
        _panel(
            "timeseries",
            "Errors",
            "4xx (client) and 5xx (server) responses per second; zero when none.",
            _targets(
                [
                    (f'sum(rate(credit_http_requests_total{{status=~"5.."}}[{RATE}])) or vector(0)', "5xx"),
                    (f'sum(rate(credit_http_requests_total{{status=~"4.."}}[{RATE}])) or vector(0)', "4xx"),
                ]
            ),
            "reqps",
            8,
            8,
        ),
        _panel(
            "stat",
            "5xx ratio",
            "Share of requests answered with a server error (alert above 1%).",
            _targets(
                [
                    (
                        f'(sum(rate(credit_http_requests_total{{status=~"5.."}}[{RATE}])) or vector(0)) '
                        f"/ sum(rate(credit_http_requests_total[{RATE}]))",
                        "5xx ratio",
                    )
                ]
            ),
            "percentunit",
            4,
            8,
            thresholds=_steps((None, "green"), (0.01, "red")),
        ),
        _panel(
            "timeseries",
            "Dependency failures",
            "Failed calls from the transformer, by dependency.",
            _targets(
                [(f"sum by (dependency) (rate(credit_dependency_failures_total[{RATE}]))", "{{dependency}}")]
            ),
            "ops",
            12,
            8,
        ),
        _panel(
            "stat",
            "Predictor ready",
            "1 when the predictor has a model loaded.",
            _targets([("min by (model) (credit_model_ready)", "{{model}}")]),
            "none",
            6,
            6,
            thresholds=_steps((None, "red"), (1, "green")),
        ),
        _panel(
            "stat",
            "Served vs registry version",
            "What the predictor serves and what its alias points to.",
            _targets(
                [
                    ("max by (model, alias) (credit_model_served_version)", "served @{{alias}}"),
                    ("max by (model, alias) (credit_model_registry_version)", "registry @{{alias}}"),
                ]
            ),
            "none",
            6,
            6,
        ),
        _panel(
            "timeseries",
            "Predictor rows/s and reloads",
            "Rows scored per second; model reloads by outcome.",
            _targets(
                [
                    (f"sum by (model) (rate(credit_predict_rows_total[{RATE}]))", "rows {{model}}"),
                    ("sum by (outcome) (increase(credit_model_reloads_total[1h]))", "reloads/h {{outcome}}"),
                ]
            ),
            "short",
            12,
            6,
        ),
        _panel(
            "timeseries",
            "Inference log",
            "Records written / spilled / replayed / dropped per second, and records waiting in memory.",
            _targets(
                [
                    (f"sum by (outcome) (rate(credit_inference_log_records_total[{RATE}]))", "{{outcome}}"),
                    ("sum(credit_inference_log_queue_depth)", "queue depth"),
                ]
            ),
            "short",
            24,
            7,
        ),
    ]
    return _dashboard(
        "credit-scoring-service",
        "Credit scoring / Service",
        "Traffic, latency per stage, errors and dependencies of the scoring path.",
        panels,
        [],
        "now-1h",
    )


def model() -> dict[str, Any]:
    panels = [
        _panel(
            "heatmap",
            "Score distribution",
            "Scores given over time (histogram credit_score).",
            _targets([(f"sum by (le) (increase(credit_score_bucket[{RATE}]))", "{{le}}")], fmt="heatmap"),
            "short",
            12,
            8,
            calculate=False,
            yAxis={"unit": "short"},
        ),
        _panel(
            "timeseries",
            "Score p10 / p50 / p90 by version",
            "Score quantiles per model version.",
            _targets(
                [
                    (
                        f"histogram_quantile({q}, sum by (model_version, le) "
                        f"(rate(credit_score_bucket[{RATE}])))",
                        f"p{int(q * 100)} v{{{{model_version}}}}",
                    )
                    for q in (0.1, 0.5, 0.9)
                ]
            ),
            "short",
            12,
            8,
        ),
        _panel(
            "timeseries",
            "Approval rate by version",
            "Approved share of scored applications, per model version.",
            _targets(
                [
                    (
                        "sum by (model_version) "
                        f'(rate(credit_applications_total{{decision="approve"}}[{RATE}])) '
                        f"/ sum by (model_version) (rate(credit_applications_total[{RATE}]))",
                        "v{{model_version}}",
                    )
                ]
            ),
            "percentunit",
            12,
            8,
            min=0,
            max=1,
        ),
        _panel(
            "timeseries",
            "Decisions by version",
            "Approve / refer / decline per second, per model version.",
            _targets(
                [
                    (
                        f"sum by (model_version, decision) (rate(credit_applications_total[{RATE}]))",
                        "v{{model_version}} {{decision}}",
                    )
                ]
            ),
            "ops",
            12,
            8,
        ),
        _panel(
            "timeseries",
            "Decisions by role",
            "Champion answers and shadow challenger decisions.",
            _targets(
                [
                    (
                        f"sum by (role, decision) (rate(credit_applications_total[{RATE}]))",
                        "{{role}} {{decision}}",
                    )
                ]
            ),
            "ops",
            12,
            8,
        ),
        _panel(
            "bargauge",
            "Reason codes",
            "Adverse-action reason codes given over the selected range.",
            _targets(
                [("sort_desc(sum by (code) (increase(credit_reason_codes_total[$__range])))", "{{code}}")],
                instant=True,
            ),
            "short",
            12,
            8,
            displayMode="gradient",
            orientation="horizontal",
        ),
        _panel(
            "timeseries",
            "Approval rate (drift job)",
            "Approval rate over the drift window, per run.",
            _targets([(f"credit_approval_rate{{{_DRIFT}}}", "{{model}} v{{version}}")]),
            "percentunit",
            8,
            8,
            min=0,
            max=1,
        ),
        _panel(
            "bargauge",
            "Score-band mix (drift job)",
            "Share of the drift window in each risk band.",
            _targets([(f"credit_score_band_share{{{_DRIFT}}}", "{{band}}")], instant=True),
            "percentunit",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
        ),
        _panel(
            "timeseries",
            "Champion / challenger agreement",
            "Share of shadow-scored rows decided alike.",
            _targets([(f"credit_champion_challenger_agreement{{{_DRIFT}}}", "{{model}} v{{version}}")]),
            "percentunit",
            8,
            8,
            min=0,
            max=1,
            thresholds=_steps((None, "red"), (0.8, "green")),
        ),
        # The champion-challenger comparison (monitoring/comparison.py, as `credit-scoring
        # compare` shows it and the promotion gates read it), per challenger version.
        _panel(
            "timeseries",
            "Challenger decision flips and swaps",
            "Shadow pairs decided differently (flip rate), approved only by the challenger (swap-in) "
            "and approved only by the champion (swap-out), per challenger version.",
            _targets(
                [
                    (f"credit_challenger_decision_flip_rate{{{_DRIFT}}}", "flips v{{challenger_version}}"),
                    (
                        f"credit_challenger_swap_rate{{{_DRIFT}}}",
                        "swap-{{direction}} v{{challenger_version}}",
                    ),
                ]
            ),
            "percentunit",
            8,
            8,
            min=0,
        ),
        _panel(
            "timeseries",
            "Challenger score delta and approval-rate difference",
            "Mean challenger minus champion score on shadow pairs (points, left) and the challenger's "
            "approval rate minus the champion's (right).",
            _targets(
                [
                    (f"credit_challenger_score_delta{{{_DRIFT}}}", "score delta v{{challenger_version}}"),
                    (
                        f"100 * credit_challenger_approval_rate_difference{{{_DRIFT}}}",
                        "approval-rate difference (points) v{{challenger_version}}",
                    ),
                ]
            ),
            "short",
            8,
            8,
        ),
        _panel(
            "bargauge",
            "Challenger evidence and score PSI",
            "Challenger records compared (shadow pairs, split records) and the PSI of its scores on "
            "the champion's deciles, at the last drift run.",
            _targets(
                [
                    (f"credit_challenger_records{{{_DRIFT}}}", "{{kind}} v{{challenger_version}}"),
                    (f"credit_challenger_score_psi{{{_DRIFT}}}", "score PSI v{{challenger_version}}"),
                ],
                instant=True,
            ),
            "short",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
        ),
    ]
    return _dashboard(
        "credit-scoring-model",
        "Credit scoring / Model",
        "What the model decides: scores, approval rates, decisions and reasons by version.",
        panels,
        [
            _var_query("model", "Model", "label_values(credit_drift_records, model)"),
            _var_query("version", "Version", 'label_values(credit_drift_records{model=~"$model"}, version)'),
        ],
        "now-24h",
    )


def drift() -> dict[str, Any]:
    psi_steps = _steps((None, "green"), (0.1, "orange"), (0.25, "red"))
    panels = [
        _panel(
            "timeseries",
            "PSI per feature",
            "CSI of every model feature on fixed reference deciles (0.1 warning, 0.25 critical).",
            _targets([(f"credit_feature_psi{{{_DRIFT}}}", "{{feature}} v{{version}}")]),
            "none",
            16,
            10,
            thresholds=psi_steps,
        ),
        _panel(
            "bargauge",
            "Latest PSI",
            "PSI per feature at the last run, largest first.",
            _targets([(f"sort_desc(credit_feature_psi{{{_DRIFT}}})", "{{feature}}")], instant=True),
            "none",
            8,
            10,
            displayMode="gradient",
            orientation="horizontal",
            thresholds=psi_steps,
            min=0,
            max=0.5,
        ),
        _panel(
            "timeseries",
            "Score PSI",
            "PSI of the score against the reference.",
            _targets([(f"credit_score_psi{{{_DRIFT}}}", "{{model}} v{{version}}")]),
            "none",
            8,
            8,
            thresholds=psi_steps,
        ),
        _panel(
            "timeseries",
            "Drifted share (Evidently)",
            "Share of model features Evidently finds drifted.",
            _targets([(f"credit_drift_share{{{_DRIFT}}}", "{{model}} v{{version}}")]),
            "percentunit",
            8,
            8,
            min=0,
            max=1,
        ),
        _panel(
            "table",
            "Drifted features (Evidently)",
            "1 = Evidently detects drift in the feature.",
            _targets([(f"credit_feature_drifted{{{_DRIFT}}}", "{{feature}}")], instant=True, fmt="table"),
            "none",
            8,
            8,
        ),
        _panel(
            "stat",
            "Last successful run",
            "Time since the drift job last completed.",
            _targets([(f"time() - credit_drift_last_success_timestamp_seconds{{{_DRIFT}}}", "v{{version}}")]),
            "s",
            6,
            6,
            thresholds=_steps((None, "green"), (3 * 3600, "red")),
        ),
        _panel(
            "stat",
            "Last run status",
            "ok / warning / critical / insufficient_data / failed.",
            _targets([(f"credit_drift_status{{{_DRIFT}}} == 1", "{{status}}")], instant=True),
            "none",
            6,
            6,
            textMode="name",
        ),
        _panel(
            "stat",
            "Records in window",
            "Inference-log records the last run compared with the reference.",
            _targets([(f"credit_drift_records{{{_DRIFT}}}", "v{{version}}")]),
            "short",
            6,
            6,
        ),
        _panel(
            "stat",
            "Approval rate in window",
            "Approved share of the drift window.",
            _targets([(f"credit_approval_rate{{{_DRIFT}}}", "v{{version}}")]),
            "percentunit",
            6,
            6,
        ),
    ]
    return _dashboard(
        "credit-scoring-drift",
        "Credit scoring / Drift",
        "Population stability against each model's reference sample (drift CronJob).",
        panels,
        [
            _var_query("model", "Model", "label_values(credit_drift_records, model)"),
            _var_query("version", "Version", 'label_values(credit_drift_records{model=~"$model"}, version)'),
        ],
        "now-7d",
    )


DASHBOARDS = {
    "credit-scoring-service.json": service,
    "credit-scoring-model.json": model,
    "credit-scoring-drift.json": drift,
}


def build() -> dict[str, str]:
    """File name -> JSON text (stable formatting, so the committed files diff cleanly)."""
    return {name: json.dumps(make(), indent=2, sort_keys=True) + "\n" for name, make in DASHBOARDS.items()}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("charts/credit-scoring/files/dashboards")
    for path in write(target):
        print(path)

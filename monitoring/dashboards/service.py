"""The service dashboard: request rate, latency (end to end, per stage, KServe handlers), errors,
dependency failures, predictor readiness and versions, rows and reloads, refused requests, the
inference log."""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import RATE, dashboard, quantiles, series, stat, steps

__all__ = ["service"]


def service() -> dict[str, Any]:
    panels = [
        series(
            "Request rate",
            "Requests per second by route and HTTP status.",
            [
                (
                    f"sum by (route, status) (rate(credit_http_requests_total[{RATE}]))",
                    "{{route}} {{status}}",
                )
            ],
            "reqps",
            12,
            8,
        ),
        series(
            "Latency p50 / p99",
            "End-to-end request latency at the transformer.",
            quantiles("credit_http_request_duration_seconds", "", ""),
            "s",
            12,
            8,
        ),
        series(
            "Latency per stage p50 / p99",
            "Where the time goes: validate, features (Feast/Redis), predict (predictor call), answer.",
            quantiles("credit_stage_duration_seconds", "stage, ", "{{stage}}"),
            "s",
            12,
            8,
        ),
        series(
            "KServe handler latency p99",
            "KServe's own preprocess / predict / postprocess histograms, per KServe model (transformer: "
            "credit-scoring, predictor: credit-risk).",
            [
                (
                    f"histogram_quantile(0.99, sum by (model_name, le) "
                    f"(rate(request_{h}_seconds_bucket[{RATE}])))",
                    f"{h} {{{{model_name}}}}",
                )
                for h in ("preprocess", "predict", "postprocess")
            ],
            "s",
            12,
            8,
        ),
        series(
            "Errors",
            "4xx (client) and 5xx (server) responses per second; zero when none.",
            [
                (f'sum(rate(credit_http_requests_total{{status=~"5.."}}[{RATE}])) or vector(0)', "5xx"),
                (f'sum(rate(credit_http_requests_total{{status=~"4.."}}[{RATE}])) or vector(0)', "4xx"),
            ],
            "reqps",
            8,
            8,
        ),
        stat(
            "5xx ratio",
            "Share of requests answered with a server error (alert above 1%).",
            [
                (
                    f'(sum(rate(credit_http_requests_total{{status=~"5.."}}[{RATE}])) or vector(0)) '
                    f"/ sum(rate(credit_http_requests_total[{RATE}]))",
                    "5xx ratio",
                )
            ],
            "percentunit",
            4,
            8,
            thresholds=steps((None, "green"), (0.01, "red")),
        ),
        series(
            "Dependency failures",
            "Failed calls from the transformer, by dependency.",
            [(f"sum by (dependency) (rate(credit_dependency_failures_total[{RATE}]))", "{{dependency}}")],
            "ops",
            12,
            8,
        ),
        stat(
            "Predictor ready",
            "1 when the predictor has a model loaded.",
            [("min by (model) (credit_model_ready)", "{{model}}")],
            "none",
            6,
            6,
            thresholds=steps((None, "red"), (1, "green")),
        ),
        stat(
            "Served vs registry version",
            "What the predictor serves and what its alias points to.",
            [
                ("max by (model, alias) (credit_model_served_version)", "served @{{alias}}"),
                ("max by (model, alias) (credit_model_registry_version)", "registry @{{alias}}"),
            ],
            "none",
            6,
            6,
        ),
        series(
            "Predictor rows/s and reloads",
            "Rows scored per second; model reloads by outcome.",
            [
                (f"sum by (model) (rate(credit_predict_rows_total[{RATE}]))", "rows {{model}}"),
                ("sum by (outcome) (increase(credit_model_reloads_total[1h]))", "reloads/h {{outcome}}"),
            ],
            "short",
            12,
            6,
        ),
        series(
            "Refused requests",
            "Requests the transformer's guard refused per second, by reason: missing or invalid_key "
            "(API keys), expired, invalid_token or unknown_kid (JWTs), rate_limited (429).",
            [(f"sum by (reason) (rate(credit_requests_refused_total[{RATE}]))", "{{reason}}")],
            "reqps",
            12,
            7,
        ),
        series(
            "Inference log",
            "Records written / spilled / replayed / dropped per second, and records waiting in memory.",
            [
                (f"sum by (outcome) (rate(credit_inference_log_records_total[{RATE}]))", "{{outcome}}"),
                ("sum(credit_inference_log_queue_depth)", "queue depth"),
            ],
            "short",
            12,
            7,
        ),
    ]
    return dashboard(
        "credit-scoring-service",
        "Credit scoring / Service",
        "Traffic, latency per stage, errors and dependencies of the scoring path.",
        panels,
        [],
        "now-1h",
    )

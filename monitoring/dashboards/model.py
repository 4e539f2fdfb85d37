"""The model dashboard: score distribution and quantiles, decisions by version and role, reason
codes, and the drift job's approval rate, band mix and champion/challenger agreement; approval AIR
by audit group and realised outcomes (``monitoring.dashboards.outcomes``)."""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import (
    RATE,
    bars,
    dashboard,
    job_gauge,
    panel,
    series,
    steps,
    targets,
    var_query,
)
from monitoring.dashboards.outcomes import outcome_panels

__all__ = ["model"]


def model() -> dict[str, Any]:
    panels = [
        panel(
            "heatmap",
            "Score distribution",
            "Scores given over time (histogram credit_score).",
            targets([(f"sum by (le) (increase(credit_score_bucket[{RATE}]))", "{{le}}")], fmt="heatmap"),
            "short",
            12,
            8,
            calculate=False,
            yAxis={"unit": "short"},
        ),
        series(
            "Score p10 / p50 / p90 by version",
            "Score quantiles per model version.",
            [
                (
                    f"histogram_quantile({q}, sum by (model_version, le) "
                    f"(rate(credit_score_bucket[{RATE}])))",
                    f"p{int(q * 100)} v{{{{model_version}}}}",
                )
                for q in (0.1, 0.5, 0.9)
            ],
            "short",
            12,
            8,
        ),
        series(
            "Approval rate by version",
            "Approved share of scored applications, per model version.",
            [
                (
                    "sum by (model_version) "
                    f'(rate(credit_applications_total{{decision="approve"}}[{RATE}])) '
                    f"/ sum by (model_version) (rate(credit_applications_total[{RATE}]))",
                    "v{{model_version}}",
                )
            ],
            "percentunit",
            12,
            8,
            min=0,
            max=1,
        ),
        series(
            "Decisions by version",
            "Approve / refer / decline per second, per model version.",
            [
                (
                    f"sum by (model_version, decision) (rate(credit_applications_total[{RATE}]))",
                    "v{{model_version}} {{decision}}",
                )
            ],
            "ops",
            12,
            8,
        ),
        series(
            "Decisions by role",
            "Champion answers and shadow challenger decisions.",
            [(f"sum by (role, decision) (rate(credit_applications_total[{RATE}]))", "{{role}} {{decision}}")],
            "ops",
            12,
            8,
        ),
        bars(
            "Reason codes",
            "Adverse-action reason codes given over the selected range.",
            [("sort_desc(sum by (code) (increase(credit_reason_codes_total[$__range])))", "{{code}}")],
            "short",
            12,
            8,
            mode="gradient",
        ),
        series(
            "Approval rate (drift job)",
            "Approval rate over the drift window, per run.",
            [(job_gauge("credit_approval_rate"), "{{model}} v{{version}}")],
            "percentunit",
            8,
            8,
            min=0,
            max=1,
        ),
        bars(
            "Score-band mix (drift job)",
            "Share of the drift window in each risk band.",
            [(job_gauge("credit_score_band_share"), "{{band}}")],
            "percentunit",
            8,
            8,
        ),
        series(
            "Champion / challenger agreement",
            "Share of shadow-scored rows decided alike.",
            [(job_gauge("credit_champion_challenger_agreement"), "{{model}} v{{version}}")],
            "percentunit",
            8,
            8,
            min=0,
            max=1,
            thresholds=steps((None, "red"), (0.8, "green")),
        ),
        # The champion-challenger comparison (monitoring/comparison.py, as `credit-scoring
        # compare` shows it and the promotion gates read it), per challenger version.
        series(
            "Challenger decision flips and swaps",
            "Shadow pairs decided differently (flip rate), approved only by the challenger (swap-in) "
            "and approved only by the champion (swap-out), per challenger version.",
            [
                (job_gauge("credit_challenger_decision_flip_rate"), "flips v{{challenger_version}}"),
                (job_gauge("credit_challenger_swap_rate"), "swap-{{direction}} v{{challenger_version}}"),
            ],
            "percentunit",
            8,
            8,
            min=0,
        ),
        series(
            "Challenger score delta and approval-rate difference",
            "Mean challenger minus champion score on shadow pairs (points, left) and the challenger's "
            "approval rate minus the champion's (right).",
            [
                (job_gauge("credit_challenger_score_delta"), "score delta v{{challenger_version}}"),
                (
                    f"100 * {job_gauge('credit_challenger_approval_rate_difference')}",
                    "approval-rate difference (points) v{{challenger_version}}",
                ),
            ],
            "short",
            8,
            8,
        ),
        bars(
            "Challenger evidence and score PSI",
            "Challenger records compared (shadow pairs, split records) and the PSI of its scores on "
            "the champion's deciles, at the last drift run.",
            [
                (job_gauge("credit_challenger_records"), "{{kind}} v{{challenger_version}}"),
                (job_gauge("credit_challenger_score_psi"), "score PSI v{{challenger_version}}"),
            ],
            "short",
            8,
            8,
        ),
        *outcome_panels(),
    ]
    return dashboard(
        "credit-scoring-model",
        "Credit scoring / Model",
        "What the model decides: scores, approval rates, decisions and reasons by version; fairness "
        "by audit group and realised outcomes.",
        panels,
        [
            var_query("model", "Model", "label_values(credit_drift_records, model)"),
            var_query("version", "Version", 'label_values(credit_drift_records{model=~"$model"}, version)'),
        ],
        "now-24h",
    )

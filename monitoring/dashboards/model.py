"""The model dashboard: score distribution and quantiles, decisions by version and role, reason
codes, and the drift job's approval rate, band mix and champion/challenger agreement; approval AIR
by audit group and realised outcomes (``monitoring.dashboards.outcomes``)."""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import (
    DRIFT_GROUP,
    RATE,
    dashboard,
    panel,
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
        panel(
            "timeseries",
            "Score p10 / p50 / p90 by version",
            "Score quantiles per model version.",
            targets(
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
        panel(
            "timeseries",
            "Approval rate by version",
            "Approved share of scored applications, per model version.",
            targets(
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
        panel(
            "timeseries",
            "Decisions by version",
            "Approve / refer / decline per second, per model version.",
            targets(
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
        panel(
            "timeseries",
            "Decisions by role",
            "Champion answers and shadow challenger decisions.",
            targets(
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
        panel(
            "bargauge",
            "Reason codes",
            "Adverse-action reason codes given over the selected range.",
            targets(
                [("sort_desc(sum by (code) (increase(credit_reason_codes_total[$__range])))", "{{code}}")],
                instant=True,
            ),
            "short",
            12,
            8,
            displayMode="gradient",
            orientation="horizontal",
        ),
        panel(
            "timeseries",
            "Approval rate (drift job)",
            "Approval rate over the drift window, per run.",
            targets([(f"credit_approval_rate{{{DRIFT_GROUP}}}", "{{model}} v{{version}}")]),
            "percentunit",
            8,
            8,
            min=0,
            max=1,
        ),
        panel(
            "bargauge",
            "Score-band mix (drift job)",
            "Share of the drift window in each risk band.",
            targets([(f"credit_score_band_share{{{DRIFT_GROUP}}}", "{{band}}")], instant=True),
            "percentunit",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
        ),
        panel(
            "timeseries",
            "Champion / challenger agreement",
            "Share of shadow-scored rows decided alike.",
            targets([(f"credit_champion_challenger_agreement{{{DRIFT_GROUP}}}", "{{model}} v{{version}}")]),
            "percentunit",
            8,
            8,
            min=0,
            max=1,
            thresholds=steps((None, "red"), (0.8, "green")),
        ),
        # The champion-challenger comparison (monitoring/comparison.py, as `credit-scoring
        # compare` shows it and the promotion gates read it), per challenger version.
        panel(
            "timeseries",
            "Challenger decision flips and swaps",
            "Shadow pairs decided differently (flip rate), approved only by the challenger (swap-in) "
            "and approved only by the champion (swap-out), per challenger version.",
            targets(
                [
                    (
                        f"credit_challenger_decision_flip_rate{{{DRIFT_GROUP}}}",
                        "flips v{{challenger_version}}",
                    ),
                    (
                        f"credit_challenger_swap_rate{{{DRIFT_GROUP}}}",
                        "swap-{{direction}} v{{challenger_version}}",
                    ),
                ]
            ),
            "percentunit",
            8,
            8,
            min=0,
        ),
        panel(
            "timeseries",
            "Challenger score delta and approval-rate difference",
            "Mean challenger minus champion score on shadow pairs (points, left) and the challenger's "
            "approval rate minus the champion's (right).",
            targets(
                [
                    (
                        f"credit_challenger_score_delta{{{DRIFT_GROUP}}}",
                        "score delta v{{challenger_version}}",
                    ),
                    (
                        f"100 * credit_challenger_approval_rate_difference{{{DRIFT_GROUP}}}",
                        "approval-rate difference (points) v{{challenger_version}}",
                    ),
                ]
            ),
            "short",
            8,
            8,
        ),
        panel(
            "bargauge",
            "Challenger evidence and score PSI",
            "Challenger records compared (shadow pairs, split records) and the PSI of its scores on "
            "the champion's deciles, at the last drift run.",
            targets(
                [
                    (f"credit_challenger_records{{{DRIFT_GROUP}}}", "{{kind}} v{{challenger_version}}"),
                    (f"credit_challenger_score_psi{{{DRIFT_GROUP}}}", "score PSI v{{challenger_version}}"),
                ],
                instant=True,
            ),
            "short",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
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

"""The drift dashboard: PSI per feature and of the score, Evidently's drifted share and features,
the last run's time and status, records and approval rate in the window."""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import DRIFT_GROUP, dashboard, panel, steps, targets, var_query

__all__ = ["drift"]


def drift() -> dict[str, Any]:
    psi_steps = steps((None, "green"), (0.1, "orange"), (0.25, "red"))
    panels = [
        panel(
            "timeseries",
            "PSI per feature",
            "CSI of every model feature on fixed reference deciles (0.1 warning, 0.25 critical).",
            targets([(f"credit_feature_psi{{{DRIFT_GROUP}}}", "{{feature}} v{{version}}")]),
            "none",
            16,
            10,
            thresholds=psi_steps,
        ),
        panel(
            "bargauge",
            "Latest PSI",
            "PSI per feature at the last run, largest first.",
            targets([(f"sort_desc(credit_feature_psi{{{DRIFT_GROUP}}})", "{{feature}}")], instant=True),
            "none",
            8,
            10,
            displayMode="gradient",
            orientation="horizontal",
            thresholds=psi_steps,
            min=0,
            max=0.5,
        ),
        panel(
            "timeseries",
            "Score PSI",
            "PSI of the score against the reference.",
            targets([(f"credit_score_psi{{{DRIFT_GROUP}}}", "{{model}} v{{version}}")]),
            "none",
            8,
            8,
            thresholds=psi_steps,
        ),
        panel(
            "timeseries",
            "Drifted share (Evidently)",
            "Share of model features Evidently finds drifted.",
            targets([(f"credit_drift_share{{{DRIFT_GROUP}}}", "{{model}} v{{version}}")]),
            "percentunit",
            8,
            8,
            min=0,
            max=1,
        ),
        panel(
            "table",
            "Drifted features (Evidently)",
            "1 = Evidently detects drift in the feature.",
            targets([(f"credit_feature_drifted{{{DRIFT_GROUP}}}", "{{feature}}")], instant=True, fmt="table"),
            "none",
            8,
            8,
        ),
        panel(
            "stat",
            "Last successful run",
            "Time since the drift job last completed.",
            targets(
                [(f"time() - credit_drift_last_success_timestamp_seconds{{{DRIFT_GROUP}}}", "v{{version}}")]
            ),
            "s",
            6,
            6,
            thresholds=steps((None, "green"), (3 * 3600, "red")),
        ),
        panel(
            "stat",
            "Last run status",
            "ok / warning / critical / insufficient_data / failed.",
            targets([(f"credit_drift_status{{{DRIFT_GROUP}}} == 1", "{{status}}")], instant=True),
            "none",
            6,
            6,
            textMode="name",
        ),
        panel(
            "stat",
            "Records in window",
            "Inference-log records the last run compared with the reference.",
            targets([(f"credit_drift_records{{{DRIFT_GROUP}}}", "v{{version}}")]),
            "short",
            6,
            6,
        ),
        panel(
            "stat",
            "Approval rate in window",
            "Approved share of the drift window.",
            targets([(f"credit_approval_rate{{{DRIFT_GROUP}}}", "v{{version}}")]),
            "percentunit",
            6,
            6,
        ),
    ]
    return dashboard(
        "credit-scoring-drift",
        "Credit scoring / Drift",
        "Population stability against each model's reference sample (drift CronJob).",
        panels,
        [
            var_query("model", "Model", "label_values(credit_drift_records, model)"),
            var_query("version", "Version", 'label_values(credit_drift_records{model=~"$model"}, version)'),
        ],
        "now-7d",
    )

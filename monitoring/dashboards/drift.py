"""The drift dashboard: PSI per feature and of the score, Evidently's drifted share and features,
the last run's time and status, records and approval rate in the window."""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import (
    bars,
    dashboard,
    job_gauge,
    panel,
    series,
    stat,
    steps,
    targets,
    var_query,
)

__all__ = ["drift"]


def drift() -> dict[str, Any]:
    psi_steps = steps((None, "green"), (0.1, "orange"), (0.25, "red"))
    panels = [
        series(
            "PSI per feature",
            "CSI of every model feature on fixed reference deciles (0.1 warning, 0.25 critical).",
            [(job_gauge("credit_feature_psi"), "{{feature}} v{{version}}")],
            "none",
            16,
            10,
            thresholds=psi_steps,
        ),
        bars(
            "Latest PSI",
            "PSI per feature at the last run, largest first.",
            [(f"sort_desc({job_gauge('credit_feature_psi')})", "{{feature}}")],
            "none",
            8,
            10,
            mode="gradient",
            thresholds=psi_steps,
            min=0,
            max=0.5,
        ),
        series(
            "Score PSI",
            "PSI of the score against the reference.",
            [(job_gauge("credit_score_psi"), "{{model}} v{{version}}")],
            "none",
            8,
            8,
            thresholds=psi_steps,
        ),
        series(
            "Drifted share (Evidently)",
            "Share of model features Evidently finds drifted.",
            [(job_gauge("credit_drift_share"), "{{model}} v{{version}}")],
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
            targets([(job_gauge("credit_feature_drifted"), "{{feature}}")], instant=True, fmt="table"),
            "none",
            8,
            8,
        ),
        stat(
            "Last successful run",
            "Time since the drift job last completed.",
            [(f"time() - {job_gauge('credit_drift_last_success_timestamp_seconds')}", "v{{version}}")],
            "s",
            6,
            6,
            thresholds=steps((None, "green"), (3 * 3600, "red")),
        ),
        stat(
            "Last run status",
            "ok / warning / critical / insufficient_data / failed.",
            [(f"{job_gauge('credit_drift_status')} == 1", "{{status}}")],
            "none",
            6,
            6,
            instant=True,
            textMode="name",
        ),
        stat(
            "Records in window",
            "Inference-log records the last run compared with the reference.",
            [(job_gauge("credit_drift_records"), "v{{version}}")],
            "short",
            6,
            6,
        ),
        stat(
            "Approval rate in window",
            "Approved share of the drift window.",
            [(job_gauge("credit_approval_rate"), "v{{version}}")],
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

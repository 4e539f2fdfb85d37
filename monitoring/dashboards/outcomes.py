"""The model dashboard's fair-lending and outcome panels (``monitoring.dashboards.model`` places them).

They show what the drift job pushes per served version (``monitoring.performance``): the
approval-rate adverse-impact ratio per age band and marital status from the inference log's audit
attributes, the lowest ratio against the floor the version was accepted with, and realised
performance on matured loan outcomes next to what the model expected.
"""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import DRIFT_GROUP, panel, steps, targets

__all__ = ["outcome_panels"]

_G = DRIFT_GROUP
_AIR_STEPS = steps((None, "red"), (0.8, "green"))


def outcome_panels() -> list[dict[str, Any]]:
    return [
        panel(
            "bargauge",
            "Approval AIR by age band",
            "Approval rate of each age band over the most-approved band's (groups of at least 30 "
            "decisions in the drift window; the audit attribute the transformer logs, never a model "
            "input). Below 0.8 fails the four-fifths rule; 62+ is Regulation B's protected band.",
            targets(
                [(f'credit_approval_air{{attribute="age_band", {DRIFT_GROUP}}}', "{{group}}")], instant=True
            ),
            "none",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
            min=0,
            max=1.2,
            thresholds=_AIR_STEPS,
        ),
        panel(
            "bargauge",
            "Approval AIR by marital status",
            "The same ratio by marital status (audited only, never a model input).",
            targets(
                [(f'credit_approval_air{{attribute="marital", {DRIFT_GROUP}}}', "{{group}}")], instant=True
            ),
            "none",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
            min=0,
            max=1.2,
            thresholds=_AIR_STEPS,
        ),
        panel(
            "timeseries",
            "Lowest approval AIR vs accepted floor",
            "Lowest approval AIR per audit attribute, and the floor the version was accepted with "
            "(0.8, or its signed fairness exception's floor; the alert fires below it).",
            targets(
                [
                    (f"credit_approval_air_min{{{DRIFT_GROUP}}}", "{{attribute}} v{{version}}"),
                    (f"credit_approval_air_floor{{{DRIFT_GROUP}}}", "accepted floor v{{version}}"),
                ]
            ),
            "none",
            8,
            8,
            min=0,
            max=1.2,
        ),
        panel(
            "timeseries",
            "Realised vs development AUC",
            "AUC of the PD on matured loan outcomes (loaded with `credit-scoring outcomes load`), next "
            "to the version's out-of-time test AUC; alert when more than 0.05 below.",
            targets(
                [
                    (f"credit_realised_auc{{{DRIFT_GROUP}}}", "realised v{{version}}"),
                    (f"credit_development_auc{{{DRIFT_GROUP}}}", "development v{{version}}"),
                    (f"credit_realised_ks{{{DRIFT_GROUP}}}", "realised KS v{{version}}"),
                ]
            ),
            "none",
            8,
            8,
            min=0,
            max=1,
        ),
        panel(
            "bargauge",
            "Realised vs expected default rate by band",
            "Per risk band: the realised default rate of matured outcomes, the band's mean PD, and the "
            "binomial 97.5% bound of what that PD allows (alert above it).",
            targets(
                [
                    (f"credit_realised_band_default_rate{{{DRIFT_GROUP}}}", "{{band}} realised"),
                    (f"credit_expected_band_default_rate{{{DRIFT_GROUP}}}", "{{band}} expected"),
                    (f"credit_band_default_rate_upper{{{DRIFT_GROUP}}}", "{{band}} upper bound"),
                ],
                instant=True,
            ),
            "percentunit",
            8,
            8,
            displayMode="basic",
            orientation="horizontal",
            min=0,
            max=1,
        ),
        panel(
            "stat",
            "Matured outcomes",
            "Outcomes that can no longer change (defaults, and loans observed for the whole "
            "performance window); realised metrics appear from CREDIT_OUTCOMES_MIN_MATURED on.",
            targets([(f"credit_outcomes_matured{{{DRIFT_GROUP}}}", "v{{version}}")]),
            "short",
            8,
            8,
        ),
    ]

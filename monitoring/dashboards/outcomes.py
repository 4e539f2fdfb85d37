"""The model dashboard's fair-lending and outcome panels (``monitoring.dashboards.model`` places them).

They show what the drift job pushes per served version (``monitoring.performance``): the
approval-rate adverse-impact ratio per age band and marital status from the inference log's audit
attributes, the lowest ratio against the floor the version was accepted with, and realised
performance on matured loan outcomes next to what the model expected.
"""

from __future__ import annotations

from typing import Any

from monitoring.dashboards.grafana import bars, job_gauge, series, stat, steps

__all__ = ["outcome_panels"]

_AIR_STEPS = steps((None, "red"), (0.8, "green"))


def _air_bars(title: str, description: str, attribute: str) -> dict[str, Any]:
    """The approval AIR of each group of one audit attribute."""
    pairs = [(job_gauge("credit_approval_air", f'attribute="{attribute}"'), "{{group}}")]
    return bars(title, description, pairs, "none", 8, 8, min=0, max=1.2, thresholds=_AIR_STEPS)


def outcome_panels() -> list[dict[str, Any]]:
    return [
        _air_bars(
            "Approval AIR by age band",
            "Approval rate of each age band over the most-approved band's (groups of at least 30 "
            "decisions in the drift window; the audit attribute the transformer logs, never a model "
            "input). Below 0.8 fails the four-fifths rule; 62+ is Regulation B's protected band.",
            "age_band",
        ),
        _air_bars(
            "Approval AIR by marital status",
            "The same ratio by marital status (audited only, never a model input).",
            "marital",
        ),
        series(
            "Lowest approval AIR vs accepted floor",
            "Lowest approval AIR per audit attribute, and the floor the version was accepted with "
            "(0.8, or its signed fairness exception's floor; the alert fires below it).",
            [
                (job_gauge("credit_approval_air_min"), "{{attribute}} v{{version}}"),
                (job_gauge("credit_approval_air_floor"), "accepted floor v{{version}}"),
            ],
            "none",
            8,
            8,
            min=0,
            max=1.2,
        ),
        series(
            "Realised vs development AUC",
            "AUC of the PD on matured loan outcomes (loaded with `credit-scoring outcomes load`), next "
            "to the version's out-of-time test AUC; alert when more than 0.05 below.",
            [
                (job_gauge("credit_realised_auc"), "realised v{{version}}"),
                (job_gauge("credit_development_auc"), "development v{{version}}"),
                (job_gauge("credit_realised_ks"), "realised KS v{{version}}"),
            ],
            "none",
            8,
            8,
            min=0,
            max=1,
        ),
        bars(
            "Realised vs expected default rate by band",
            "Per risk band: the realised default rate of matured outcomes, the band's mean PD, and the "
            "binomial 97.5% bound of what that PD allows (alert above it).",
            [
                (job_gauge("credit_realised_band_default_rate"), "{{band}} realised"),
                (job_gauge("credit_expected_band_default_rate"), "{{band}} expected"),
                (job_gauge("credit_band_default_rate_upper"), "{{band}} upper bound"),
            ],
            "percentunit",
            8,
            8,
            min=0,
            max=1,
        ),
        stat(
            "Matured outcomes",
            "Outcomes that can no longer change (defaults, and loans observed for the whole "
            "performance window); realised metrics appear from CREDIT_OUTCOMES_MIN_MATURED on.",
            [(job_gauge("credit_outcomes_matured"), "v{{version}}")],
            "short",
            8,
            8,
        ),
    ]

"""Evidently 0.7 ``DataDriftPreset`` over the model features: per-feature drift and drifted share.

Evidently picks the statistical test per column from the data (K-S / chi-square or Z-test on
small references, Wasserstein / Jensen-Shannon distances on large ones); its per-column
verdict comes back as a test result (FAIL = drift detected), which is what we read, so the
direction of each method's threshold (p-value vs distance) is Evidently's business, not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from credit_scoring.features import CATEGORICAL_LEVELS, MODEL_FEATURES, Kind

__all__ = ["EvidentlyDrift", "run_data_drift"]


@dataclass(frozen=True)
class EvidentlyDrift:
    drifted: dict[str, bool]
    scores: dict[str, float]
    methods: dict[str, str]
    share: float
    snapshot: Any  # evidently Snapshot: save_html / json

    def html(self) -> str:
        return str(self.snapshot.get_html_str(as_iframe=False))

    def json(self) -> str:
        return str(self.snapshot.json())


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Model features only, categoricals as level names so the report reads like the data."""
    out = pd.DataFrame(index=frame.index)
    for feature in MODEL_FEATURES:
        values = frame[feature.name].astype("float64")
        if feature.kind is Kind.CATEGORY:
            levels = CATEGORICAL_LEVELS[feature.name]
            out[feature.name] = values.map(
                lambda v, levels=levels: levels[int(v)] if v == v and 0 <= int(v) < len(levels) else None
            ).astype("object")
        else:
            out[feature.name] = values
    return out


def run_data_drift(reference: pd.DataFrame, current: pd.DataFrame, drift_share: float) -> EvidentlyDrift:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[f.name for f in MODEL_FEATURES if f.kind is not Kind.CATEGORY],
        categorical_columns=[f.name for f in MODEL_FEATURES if f.kind is Kind.CATEGORY],
    )
    snapshot = Report([DataDriftPreset(drift_share=drift_share)], include_tests=True).run(
        Dataset.from_pandas(_readable(current), data_definition=definition),
        Dataset.from_pandas(_readable(reference), data_definition=definition),
    )
    result = snapshot.dict()
    share: float | None = None
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith(":ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            methods[config["column"]] = str(config.get("method"))
    drifted = {
        test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
        for test in result["tests"]
        if test["metric_config"]["params"]["type"].endswith(":ValueDrift")
    }
    if share is None or set(drifted) != {f.name for f in MODEL_FEATURES}:
        raise RuntimeError("Evidently's DataDriftPreset result lacks the drift share or a feature's verdict")
    return EvidentlyDrift(drifted=drifted, scores=scores, methods=methods, share=share, snapshot=snapshot)

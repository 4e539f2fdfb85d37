"""One drift assessment: reference sample vs a window of the inference log."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.features import MODEL_FEATURES, Kind, feature_names
from credit_scoring.policy import Decision
from monitoring.comparison import compare
from monitoring.evidently_drift import EvidentlyDrift, run_data_drift
from monitoring.performance import FairnessView, RealisedPerformance
from monitoring.psi import FixedBins
from monitoring.reference import ReferenceSample
from monitoring.window import Window

__all__ = ["DriftResult", "Status", "Thresholds", "assess"]


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    INSUFFICIENT_DATA = "insufficient_data"
    FAILED = "failed"


@dataclass(frozen=True)
class Thresholds:
    min_records: int
    psi_bins: int
    psi_warning: float
    psi_critical: float
    drift_share: float


@dataclass
class DriftResult:
    status: Status
    message: str
    model_name: str
    model_version: str
    model_alias: str | None
    window_start: str
    window_end: str
    records: int
    reference_records: int
    feature_psi: dict[str, float] = field(default_factory=dict)
    score_psi: float | None = None
    drift_share: float | None = None
    feature_drifted: dict[str, bool] = field(default_factory=dict)
    drift_methods: dict[str, str] = field(default_factory=dict)
    approval_rate: float | None = None
    reference_approval_rate: float | None = None
    score_band_share: dict[str, float] = field(default_factory=dict)
    reference_score_band_share: dict[str, float] = field(default_factory=dict)
    thin_file_share: float | None = None
    challenger_records: int = 0
    champion_challenger_agreement: float | None = None
    challengers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per challenger version in the window: the comparison figures the gauges carry
    (``monitoring.comparison``: shadow pairs, split records, flips, swaps, score delta, PSI)."""
    realised: RealisedPerformance | None = None
    """Matured outcomes of the version's decisions (``monitoring.performance``)."""
    fairness: FairnessView | None = None
    """Approval-rate AIR by audit attribute over the window."""
    audit_attributes_expired: int = 0
    """Records whose audit attributes passed their retention this run (erased)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (stored as JSONB, printed as JSON): NaN (e.g. an AIR with no approval at
        all in the reference group) becomes null."""
        out = _json_safe(asdict(self))
        out["status"] = self.status.value
        return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _bins(reference: pd.Series, kind: Kind, n_bins: int) -> FixedBins:
    values = reference.to_numpy(dtype=np.float64)
    return FixedBins.categorical(values) if kind is Kind.CATEGORY else FixedBins.numeric(values, n_bins)


def _band_mix(scores: np.ndarray, sample: ReferenceSample, stored: pd.Series | None) -> dict[str, float]:
    if sample.policy is not None:
        bands = pd.Series(sample.policy.band(scores))
        names = [b.name for b in sample.policy.bands]
    elif stored is not None and stored.notna().any():
        bands, names = stored.dropna(), sorted(stored.dropna().unique())
    else:
        return {}
    shares = bands.value_counts(normalize=True)
    return {name: float(shares.get(name, 0.0)) for name in names}


def _approval_rate(decisions: pd.Series) -> float:
    return float((decisions.astype(str) == Decision.APPROVE.value).mean())


def _agreement(champion: pd.DataFrame, challenger: pd.DataFrame) -> tuple[int, float | None]:
    if challenger.empty:
        return 0, None
    pairs = champion.merge(challenger, on=["request_id", "row_index"], suffixes=("", "_challenger"))
    if pairs.empty:
        return len(challenger), None
    return len(challenger), float((pairs["decision"] == pairs["decision_challenger"]).mean())


def _challengers(window: Window, version: str, bins: int) -> dict[str, dict[str, Any]]:
    out = {}
    for challenger_version, records in window.challenger.groupby("model_version"):
        c = compare(
            window.champion,
            records,
            champion_version=version,
            challenger_version=str(challenger_version),
            psi_bins=bins,
        )
        out[str(challenger_version)] = {
            "mode": c.mode,
            "shadow_pairs": c.shadow.pairs,
            "split_records": c.split.challenger_records,
            "decision_flip_rate": c.shadow.decision_flip_rate,
            "swap_in": c.shadow.swap_in,
            "swap_out": c.shadow.swap_out,
            "swap_in_rate": c.shadow.swap_in_rate,
            "swap_out_rate": c.shadow.swap_out_rate,
            "mean_score_delta": c.shadow.mean_score_delta,
            "approval_rate_difference": c.approval_rate_difference,
            "score_psi": c.score_psi,
        }
    return out


def _status(result: DriftResult, limits: Thresholds) -> tuple[Status, str]:
    worst = max([*result.feature_psi.items(), ("score", result.score_psi or 0.0)], key=lambda kv: kv[1])
    share = result.drift_share or 0.0
    if worst[1] > limits.psi_critical or share >= limits.drift_share:
        return Status.CRITICAL, (
            f"significant shift: max PSI {worst[1]:.3f} ({worst[0]}), drifted share {share:.2f}"
        )
    if worst[1] > limits.psi_warning:
        return Status.WARNING, f"some shift: max PSI {worst[1]:.3f} ({worst[0]}), drifted share {share:.2f}"
    return Status.OK, f"stable: max PSI {worst[1]:.3f} ({worst[0]}), drifted share {share:.2f}"


def assess(
    sample: ReferenceSample, window: Window, limits: Thresholds
) -> tuple[DriftResult, EvidentlyDrift | None]:
    """PSI on fixed reference bins, Evidently drift, decision mix; or insufficient data."""
    current, reference = window.champion, sample.frame
    result = DriftResult(
        status=Status.INSUFFICIENT_DATA,
        message="",
        model_name=sample.model.name,
        model_version=sample.model.version,
        model_alias=sample.model.alias,
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        records=len(current),
        reference_records=len(reference),
    )
    result.challenger_records, result.champion_challenger_agreement = _agreement(current, window.challenger)
    result.challengers = _challengers(window, sample.model.version, limits.psi_bins)
    if len(current) < limits.min_records:
        result.message = (
            f"insufficient data: {len(current)} records of {sample.model.name} "
            f"v{sample.model.version} in the window, at least {limits.min_records} needed"
        )
        return result, None

    for feature in MODEL_FEATURES:
        bins = _bins(reference[feature.name], feature.kind, limits.psi_bins)
        result.feature_psi[feature.name] = bins.psi(current[feature.name].to_numpy(dtype=np.float64))
    ref_score = reference["score"].to_numpy(dtype=np.float64)
    cur_score = current["score"].to_numpy(dtype=np.float64)
    result.score_psi = FixedBins.numeric(ref_score, limits.psi_bins).psi(cur_score)

    evidently = run_data_drift(reference[feature_names()], current[feature_names()], limits.drift_share)
    result.drift_share = evidently.share
    result.feature_drifted = evidently.drifted
    result.drift_methods = evidently.methods

    result.approval_rate = _approval_rate(current["decision"])
    result.reference_approval_rate = _approval_rate(reference["decision"])
    result.score_band_share = _band_mix(cur_score, sample, current.get("risk_band"))
    result.reference_score_band_share = _band_mix(ref_score, sample, None)
    result.thin_file_share = float(current["thin_file"].astype(bool).mean())
    result.status, result.message = _status(result, limits)
    return result, evidently

"""Champion vs challenger over a window of the inference log: the one place the numbers live.

``credit-scoring compare``, the drift job's gauges and the promotion gates all call ``compare``
on the same two frames (one row per logged record, ``monitoring.window`` columns):

- **Shadow pairs**: a champion record and a challenger record with the same ``(request_id,
  row_index)``: the challenger scored the very application the champion answered (the
  transformer logs the shadow answer under the champion's key). On pairs: score correlation,
  decision agreement (and its complement, the decision-flip rate), swap-in (the challenger
  approves an application the champion did not) and swap-out (the champion approved, the
  challenger would not), the mean score delta, whether the principal adverse-action reason
  stays the same.
- **Split populations**: records of one role with no counterpart of the other (the router sent
  the applicant to that side only). Compared as populations: approval rates and the score
  distribution.
- On everything of each side: approval rate, decision mix, score PSI of the challenger against
  the champion's deciles (``monitoring.psi``), reason-code shares, logged latency percentiles.

Pure functions of the frames (no database, no MLflow): tests pin every number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.policy import Decision
from monitoring.psi import FixedBins

__all__ = ["Comparison", "PairedComparison", "PopulationComparison", "SideSummary", "compare"]

_KEY = ["request_id", "row_index"]
_APPROVE = Decision.APPROVE.value


@dataclass(frozen=True)
class SideSummary:
    """One side (role) of the comparison: every record of it in the window."""

    records: int
    approval_rate: float | None
    decision_mix: dict[str, float]
    mean_score: float | None
    score_quantiles: dict[str, float]
    latency_ms: dict[str, float]
    """p50/p95/p99 of the logged ``latency_ms`` (for shadow records: from the request's start to
    the shadow answer, so it includes the champion's own path)."""
    reason_code_share: dict[str, float]
    """Share of this side's non-approved answers that cite each reason code."""
    thin_file_share: float | None


@dataclass(frozen=True)
class PairedComparison:
    """Shadow pairs: both models on the same applications."""

    pairs: int
    score_correlation: float | None
    decision_agreement: float | None
    decision_flip_rate: float | None
    swap_in: int
    swap_out: int
    swap_in_rate: float | None
    swap_out_rate: float | None
    mean_score_delta: float | None
    """Mean of challenger score minus champion score (points)."""
    mean_abs_score_delta: float | None
    approval_rate_champion: float | None
    approval_rate_challenger: float | None
    approval_rate_difference: float | None
    """Challenger approval rate minus champion approval rate, on the same applications."""
    principal_reason_agreement: float | None
    """Among pairs where both models decline or refer: share citing the same first reason."""
    decision_matrix: dict[str, dict[str, int]] = field(default_factory=dict)
    """champion decision -> challenger decision -> pairs."""


@dataclass(frozen=True)
class PopulationComparison:
    """Split: each side scored its own applicants (records without a counterpart)."""

    champion_records: int
    challenger_records: int
    approval_rate_champion: float | None
    approval_rate_challenger: float | None
    approval_rate_difference: float | None
    score_psi: float | None


@dataclass(frozen=True)
class Comparison:
    champion_version: str
    challenger_version: str
    mode: str
    """``shadow`` (pairs only), ``split`` (unpaired challenger records only), ``shadow+split`` or
    ``none`` (no challenger record in the window)."""
    champion: SideSummary
    challenger: SideSummary
    shadow: PairedComparison
    split: PopulationComparison
    score_psi: float | None
    """PSI of every challenger score of the window on the champion's score deciles."""
    approval_rate_difference: float | None
    """Challenger minus champion approval rate: on pairs when there are any, else populations."""
    reason_code_differences: list[dict[str, Any]]
    """Per reason code: share of non-approved answers citing it, each side, and the difference."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def volume(self) -> int:
        """Challenger records that compare with the champion: shadow pairs plus split records."""
        return self.shadow.pairs + self.split.challenger_records


def _rate(mask: pd.Series | np.ndarray) -> float | None:
    values = np.asarray(mask, dtype=bool)
    return float(values.mean()) if values.size else None


def _approved(decisions: pd.Series) -> np.ndarray:
    return np.asarray(decisions.astype(str) == _APPROVE)


def _codes(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [str(c) for c in value]


def _reason_share(frame: pd.DataFrame) -> dict[str, float]:
    if "reason_codes" not in frame or frame.empty:
        return {}
    adverse = frame[~_approved(frame["decision"])]
    if adverse.empty:
        return {}
    counts: Counter[str] = Counter(code for codes in adverse["reason_codes"] for code in set(_codes(codes)))
    return {code: counts[code] / len(adverse) for code in sorted(counts)}


def _percentiles(values: pd.Series, points: tuple[int, ...]) -> dict[str, float]:
    data = values.dropna().to_numpy(dtype=np.float64)
    if data.size == 0:
        return {}
    return {f"p{p}": float(np.percentile(data, p)) for p in points}


def summarise(frame: pd.DataFrame) -> SideSummary:
    """The summary of one side's records."""
    n = len(frame)
    if n == 0:
        return SideSummary(0, None, {}, None, {}, {}, {}, None)
    mix = frame["decision"].astype(str).value_counts(normalize=True)
    latency = (
        _percentiles(frame["latency_ms"], (50, 95, 99)) if "latency_ms" in frame else {}
    )  # the drift job's window carries no latency
    return SideSummary(
        records=n,
        approval_rate=_rate(_approved(frame["decision"])),
        decision_mix={d.value: float(mix.get(d.value, 0.0)) for d in Decision},
        mean_score=float(frame["score"].mean()),
        score_quantiles=_percentiles(frame["score"], (5, 25, 50, 75, 95)),
        latency_ms=latency,
        reason_code_share=_reason_share(frame),
        thin_file_share=_rate(frame["thin_file"]) if "thin_file" in frame else None,
    )


def _principal(codes: Any) -> str | None:
    listed = _codes(codes)
    return listed[0] if listed else None


def paired(pairs: pd.DataFrame) -> PairedComparison:
    """``pairs``: champion columns and the same columns suffixed ``_challenger``."""
    n = len(pairs)
    if n == 0:
        return PairedComparison(0, None, None, None, 0, 0, None, None, None, None, None, None, None, None)
    champ_ok = _approved(pairs["decision"])
    chall_ok = _approved(pairs["decision_challenger"])
    agree = (pairs["decision"].astype(str) == pairs["decision_challenger"].astype(str)).to_numpy()
    delta = pairs["score_challenger"].to_numpy(np.float64) - pairs["score"].to_numpy(np.float64)
    swap_in = int((~champ_ok & chall_ok).sum())
    swap_out = int((champ_ok & ~chall_ok).sum())
    correlation = None
    if n >= 2 and pairs["score"].std() > 0 and pairs["score_challenger"].std() > 0:
        correlation = float(np.corrcoef(pairs["score"], pairs["score_challenger"])[0, 1])
    principal = None
    if "reason_codes" in pairs:
        both = pairs[~champ_ok & ~chall_ok]
        if len(both):
            same = [
                _principal(a) == _principal(b)
                for a, b in zip(both["reason_codes"], both["reason_codes_challenger"], strict=True)
            ]
            principal = float(np.mean(same))
    cells = Counter(zip(pairs["decision"].astype(str), pairs["decision_challenger"].astype(str), strict=True))
    matrix = {a.value: {b.value: cells[(a.value, b.value)] for b in Decision} for a in Decision}
    approval_champion, approval_challenger = float(champ_ok.mean()), float(chall_ok.mean())
    return PairedComparison(
        pairs=n,
        score_correlation=correlation,
        decision_agreement=float(agree.mean()),
        decision_flip_rate=float(1.0 - agree.mean()),
        swap_in=swap_in,
        swap_out=swap_out,
        swap_in_rate=swap_in / n,
        swap_out_rate=swap_out / n,
        mean_score_delta=float(delta.mean()),
        mean_abs_score_delta=float(np.abs(delta).mean()),
        approval_rate_champion=approval_champion,
        approval_rate_challenger=approval_challenger,
        approval_rate_difference=approval_challenger - approval_champion,
        principal_reason_agreement=principal,
        decision_matrix=matrix,
    )


def _psi(reference: pd.Series, current: pd.Series, bins: int) -> float | None:
    ref = reference.to_numpy(np.float64)
    cur = current.to_numpy(np.float64)
    if ref.size == 0 or cur.size == 0:
        return None
    return FixedBins.numeric(ref, bins).psi(cur)


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _reason_differences(champion: SideSummary, challenger: SideSummary) -> list[dict[str, Any]]:
    codes = sorted(set(champion.reason_code_share) | set(challenger.reason_code_share))
    rows = [
        {
            "code": code,
            "champion_share": champion.reason_code_share.get(code, 0.0),
            "challenger_share": challenger.reason_code_share.get(code, 0.0),
            "difference": challenger.reason_code_share.get(code, 0.0)
            - champion.reason_code_share.get(code, 0.0),
        }
        for code in codes
    ]
    return sorted(rows, key=lambda r: -abs(r["difference"]))


def compare(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    *,
    champion_version: str,
    challenger_version: str,
    psi_bins: int = 10,
) -> Comparison:
    """Compare the champion's and the challenger's records of one window (see the module doc)."""
    # Both frames carry the same columns, so the challenger's come out suffixed.
    pairs = champion.merge(challenger, on=_KEY, suffixes=("", "_challenger"))
    paired_keys = pd.MultiIndex.from_frame(pairs[_KEY])
    champion_only = champion[~pd.MultiIndex.from_frame(champion[_KEY]).isin(paired_keys)]
    challenger_only = challenger[~pd.MultiIndex.from_frame(challenger[_KEY]).isin(paired_keys)]
    shadow = paired(pairs)
    champion_side, challenger_side = summarise(champion), summarise(challenger)
    # Unpaired champion records are a split population only while the challenger has one too
    # (in shadow mode they are batches the shadow path skipped under load).
    split_champion = summarise(champion_only if len(challenger_only) else champion_only.iloc[0:0])
    split_challenger = summarise(challenger_only)
    split = PopulationComparison(
        champion_records=split_champion.records,
        challenger_records=split_challenger.records,
        approval_rate_champion=split_champion.approval_rate,
        approval_rate_challenger=split_challenger.approval_rate,
        approval_rate_difference=_difference(split_challenger.approval_rate, split_champion.approval_rate),
        score_psi=_psi(champion_only["score"], challenger_only["score"], psi_bins)
        if len(challenger_only)
        else None,
    )
    mode = {(True, True): "shadow+split", (True, False): "shadow", (False, True): "split"}.get(
        (shadow.pairs > 0, split.challenger_records > 0), "none"
    )
    return Comparison(
        champion_version=str(champion_version),
        challenger_version=str(challenger_version),
        mode=mode,
        champion=champion_side,
        challenger=challenger_side,
        shadow=shadow,
        split=split,
        score_psi=_psi(champion["score"], challenger["score"], psi_bins),
        approval_rate_difference=shadow.approval_rate_difference
        if shadow.pairs
        else split.approval_rate_difference,
        reason_code_differences=_reason_differences(champion_side, challenger_side),
    )

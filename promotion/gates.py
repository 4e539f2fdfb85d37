"""The gates a promotion step must pass, each with its value and threshold (docs/promotion.md).

A gate is ``passed``, ``failed`` or ``missing`` (the evidence does not exist: never a pass).
Which gates a step checks:

| step | offline | governance | volume | agreement | live (Prometheus) |
| --- | --- | --- | --- | --- | --- |
| shadow | yes | yes | - | - | - |
| split | yes | yes | shadow pairs | yes | - |
| champion | yes | yes | pairs + split records | yes | yes |
| rollback | - | - | - | - | - |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from monitoring.comparison import Comparison
from promotion.evidence import VersionEvidence
from promotion.live import LiveFigures
from promotion.settings import PromotionSettings

__all__ = [
    "Gate",
    "GateStatus",
    "agreement_gates",
    "governance_gates",
    "live_gates",
    "offline_gates",
    "volume_gate",
]

_FAIRNESS_OK = {"passed", "exception"}


class GateStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    MISSING = "missing"


@dataclass(frozen=True)
class Gate:
    name: str
    status: GateStatus
    value: Any
    threshold: Any
    detail: str

    @property
    def passed(self) -> bool:
        return self.status is GateStatus.PASSED

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["passed"] = self.passed
        return out

    def line(self) -> str:
        return f"[{self.status.value}] {self.name}: {self.detail}"


def _check(name: str, value: float | None, threshold: float, ok: bool, detail: str) -> Gate:
    if value is None:
        return Gate(name, GateStatus.MISSING, None, threshold, f"missing evidence: {detail}")
    return Gate(name, GateStatus.PASSED if ok else GateStatus.FAILED, value, threshold, detail)


def _against_champion(
    name: str,
    what: str,
    challenger: float | None,
    champion: float | None,
    bound: Callable[[float], float],
    *,
    at_least: bool,
    unit: str = "",
) -> Gate:
    """The challenger's figure against a bound set by the champion's (missing without either)."""
    limit = None if champion is None else bound(champion)
    ok = (
        challenger is not None
        and limit is not None
        and (challenger >= limit if at_least else challenger <= limit)
    )
    return _check(
        name,
        challenger,
        limit if limit is not None else float("nan"),
        ok,
        f"challenger {what} {challenger}{unit} vs champion {champion}{unit} "
        f"({'at least' if at_least else 'at most'} {limit}{unit})",
    )


def offline_gates(champion: VersionEvidence, challenger: VersionEvidence, s: PromotionSettings) -> list[Gate]:
    """Out-of-time AUC and Brier score not worse than the champion's beyond the margins."""
    if champion.version == challenger.version:
        return [Gate("offline_metrics", GateStatus.PASSED, None, None, "same version as the champion")]
    new, old = challenger.metrics, champion.metrics
    return [
        _against_champion(
            "offline_auc", "AUC", new.get("auc"), old.get("auc"), lambda c: c - s.max_auc_drop, at_least=True
        ),
        _against_champion(
            "offline_brier",
            "Brier",
            new.get("brier"),
            old.get("brier"),
            lambda c: c + s.max_brier_rise,
            at_least=False,
        ),
    ]


def governance_gates(challenger: VersionEvidence) -> list[Gate]:
    """The registration fairness gate's verdict and the model card, as the version carries them."""
    g = challenger.governance
    if g.fairness_status is None:
        fairness = Gate(
            "fairness_gate",
            GateStatus.MISSING,
            None,
            sorted(_FAIRNESS_OK),
            "missing evidence: no fairness_gate tag",
        )
    else:
        ok = g.fairness_status in _FAIRNESS_OK
        fairness = Gate(
            "fairness_gate",
            GateStatus.PASSED if ok else GateStatus.FAILED,
            g.fairness_status,
            sorted(_FAIRNESS_OK),
            f"registration fairness gate: {g.fairness_status}"
            + (" (with a signed exception)" if g.fairness_status == "exception" else ""),
        )
    card = Gate(
        "model_card",
        GateStatus.PASSED if g.model_card else GateStatus.MISSING,
        g.model_card is not None,
        True,
        "model card present" if g.model_card else "missing evidence: no model card artifact",
    )
    return [fairness, card]


def volume_gate(comparison: Comparison, s: PromotionSettings, pairs_only: bool) -> Gate:
    volume = comparison.shadow.pairs if pairs_only else comparison.volume
    what = "shadow pairs" if pairs_only else "shadow pairs + split records"
    return Gate(
        "volume",
        GateStatus.PASSED if volume >= s.min_volume else GateStatus.FAILED,
        volume,
        s.min_volume,
        f"{volume} {what} in the window (at least {s.min_volume})",
    )


def agreement_gates(comparison: Comparison, s: PromotionSettings) -> list[Gate]:
    """Decision agreement (on shadow pairs, when there are any), approval-rate change, score PSI."""
    gates = []
    agreement = comparison.shadow.decision_agreement
    if agreement is not None:
        gates.append(
            _check(
                "decision_agreement",
                agreement,
                s.min_agreement,
                agreement >= s.min_agreement,
                f"{agreement:.3f} of shadow pairs decided alike (at least {s.min_agreement})",
            )
        )
    change = comparison.approval_rate_difference
    gates.append(
        _check(
            "approval_rate_change",
            change,
            s.max_approval_rate_change,
            change is not None and abs(change) <= s.max_approval_rate_change,
            f"challenger minus champion approval rate {change} (within +-{s.max_approval_rate_change})",
        )
    )
    value = comparison.score_psi
    gates.append(
        _check(
            "score_psi",
            value,
            s.max_score_psi,
            value is not None and value <= s.max_score_psi,
            f"PSI of challenger scores on champion deciles {value} (at most {s.max_score_psi})",
        )
    )
    return gates


def live_gates(figures: LiveFigures | None, s: PromotionSettings, why_missing: str = "") -> list[Gate]:
    if figures is None:
        return [Gate("live_metrics", GateStatus.MISSING, None, None, f"missing evidence: {why_missing}")]
    calls = figures.calls.get("challenger", 0.0)
    gates = [
        Gate(
            "live_volume",
            GateStatus.PASSED if calls >= s.min_live_calls else GateStatus.FAILED,
            calls,
            s.min_live_calls,
            f"{calls:.0f} challenger predictor calls in {s.live_window} (at least {s.min_live_calls})",
        )
    ]
    gates.append(
        _against_champion(
            "live_error_rate",
            "error rate",
            figures.error_rate.get("challenger"),
            figures.error_rate.get("champion"),
            lambda c: c + s.max_error_rate_increase,
            at_least=False,
        )
    )
    gates.append(
        _against_champion(
            "live_p99",
            "predictor p99",
            figures.p99_seconds.get("challenger"),
            figures.p99_seconds.get("champion"),
            lambda c: c * s.max_p99_ratio,
            at_least=False,
            unit="s",
        )
    )
    gates.append(
        _check(
            "live_score_psi",
            figures.score_psi,
            s.max_live_score_psi,
            figures.score_psi is not None and figures.score_psi <= s.max_live_score_psi,
            f"PSI of served score histograms {figures.score_psi} (at most {s.max_live_score_psi})",
        )
    )
    return gates

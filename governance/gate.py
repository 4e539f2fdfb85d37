"""The registration gate: may a new version take the ``challenger`` alias?

Every version is registered (the registry is the record of what was built), but only a version
that passes the gate gets ``challenger`` (and ``champion`` when there is none). The checks, all
on the validation window:

| check | passes when | waivable by a fairness exception |
| --- | --- | --- |
| ``fairness_threshold`` | minimum AIR of approvals (age band, marital status) >= 0.8 | yes |
| ``fairness_vs_champion`` | that AIR is no more than 0.02 below the champion's on the same window | yes |
| ``calibration_bands`` | every risk band's default count inside its binomial 95% interval | no |
| ``calibration_hosmer_lemeshow`` | Hosmer-Lemeshow p > 0.05 | no |
| ``regulation_b_age`` | moving only age never lowers a score at 62+ (``governance.age_check``) | no |
| ``reason_stability`` | first reason agrees across two seeds for >= 80% of adverse applicants | no |

An exception (``governance.exception``) waives the two fairness checks only when it names this
model, is in force today, and the version's minimum AIR is at or above its floor.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from credit_scoring.audit import AIR_THRESHOLD
from governance.age_check import AgeCheckResult
from governance.exception import FairnessException

__all__ = [
    "CHAMPION_MARGIN",
    "GateCheck",
    "GateDecision",
    "GateEvidence",
    "decide",
]

CHAMPION_MARGIN = 0.02


@dataclass(frozen=True)
class GateEvidence:
    model_name: str
    version: str
    min_air: float
    """Minimum AIR of approvals on validation over age band and marital status."""
    air_by_attribute: dict[str, float]
    champion_version: str | None
    champion_min_air: float | None
    """The champion's minimum AIR on the same validation window (None without a champion)."""
    calibration_problems: list[str]
    hosmer_lemeshow_p: float
    age_check: AgeCheckResult
    stability: float
    stability_threshold: float


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    detail: str
    waivable: bool
    waived: bool = False


@dataclass
class GateDecision:
    accepted: bool
    checks: list[GateCheck]
    exception: FairnessException | None = None
    exception_applied: bool = False
    exception_problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.accepted:
            return "refused"
        return "accepted with fairness exception" if self.exception_applied else "accepted"

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed and not c.waived]

    def lines(self) -> list[str]:
        out = [f"registration gate: {self.status.upper()}"]
        for c in self.checks:
            mark = "pass" if c.passed else ("WAIVED" if c.waived else "FAIL")
            out.append(f"  [{mark}] {c.name}: {c.detail}")
        if self.exception is not None:
            e = self.exception
            head = (
                "FAIRNESS EXCEPTION APPLIED" if self.exception_applied else "fairness exception NOT applied"
            )
            out.append(
                f"  {head}: signed by {e.signer} on {e.date.isoformat()}, expires {e.expiry.isoformat()}, "
                f"accepts minimum AIR >= {e.air_floor:g}"
            )
            out += [f"    - {p}" for p in self.exception_problems]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "accepted": self.accepted,
            "checks": [asdict(c) for c in self.checks],
            "exception": self.exception.as_dict() if self.exception else None,
            "exception_applied": self.exception_applied,
            "exception_problems": list(self.exception_problems),
        }


def decide(
    evidence: GateEvidence, exception: FairnessException | None, today: dt.date | None = None
) -> GateDecision:
    today = today or dt.datetime.now(dt.UTC).date()
    air = evidence.min_air
    by_attr = ", ".join(f"{k} {v:.3f}" for k, v in evidence.air_by_attribute.items())
    checks = [
        GateCheck(
            "fairness_threshold",
            math.isfinite(air) and air >= AIR_THRESHOLD,
            f"minimum AIR of approvals {air:.3f} ({by_attr}); threshold {AIR_THRESHOLD}",
            waivable=True,
        )
    ]
    if evidence.champion_min_air is None:
        checks.append(GateCheck("fairness_vs_champion", True, "no champion to compare with", waivable=True))
    else:
        floor = evidence.champion_min_air - CHAMPION_MARGIN
        checks.append(
            GateCheck(
                "fairness_vs_champion",
                math.isfinite(air) and air >= floor,
                f"{air:.3f} vs champion v{evidence.champion_version} {evidence.champion_min_air:.3f} "
                f"(at most {CHAMPION_MARGIN} worse)",
                waivable=True,
            )
        )
    band_problems = [p for p in evidence.calibration_problems if p.startswith("band ")]
    checks += [
        GateCheck(
            "calibration_bands",
            not band_problems,
            "; ".join(band_problems) or "every band's default rate inside its binomial 95% interval",
            waivable=False,
        ),
        GateCheck(
            "calibration_hosmer_lemeshow",
            evidence.hosmer_lemeshow_p > 0.05,
            f"p = {evidence.hosmer_lemeshow_p:.3f} (must exceed 0.05)",
            waivable=False,
        ),
        GateCheck(
            "regulation_b_age", evidence.age_check.passed, evidence.age_check.message(), waivable=False
        ),
        GateCheck(
            "reason_stability",
            evidence.stability >= evidence.stability_threshold,
            f"first reason agrees for {evidence.stability:.1%} of adverse applicants across two seeds "
            f"(at least {evidence.stability_threshold:.0%})",
            waivable=False,
        ),
    ]
    decision = GateDecision(accepted=False, checks=checks, exception=exception)
    fairness_failed = any(not c.passed for c in checks if c.waivable)
    if exception is not None:
        problems = exception.problems(evidence.model_name, today)
        if math.isfinite(air) and not exception.covers(air):
            problems.append(
                f"the version's minimum AIR {air:.3f} is below the accepted floor {exception.air_floor:g}"
            )
        if not fairness_failed:
            problems.append("not needed: the fairness checks pass")
        decision.exception_problems = problems
        if fairness_failed and not problems:
            decision.exception_applied = True
            decision.checks = [
                GateCheck(c.name, c.passed, c.detail, c.waivable, waived=c.waivable and not c.passed)
                for c in checks
            ]
    decision.accepted = not decision.failed
    return decision

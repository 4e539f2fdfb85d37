"""Each gate against its threshold, and missing evidence never passing."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.comparison import compare
from promotion.evidence import Governance, VersionEvidence
from promotion.gates import (
    GateStatus,
    agreement_gates,
    governance_gates,
    live_gates,
    offline_gates,
    volume_gate,
)
from promotion.live import LiveFigures
from promotion.settings import PromotionSettings

SETTINGS = PromotionSettings(min_volume=4)


def version(
    v: str,
    auc: float | None = 0.85,
    brier: float = 0.15,
    fairness: str | None = "passed",
    card: str | None = "# c",
):
    metrics = {"brier": brier} if auc is None else {"auc": auc, "brier": brier}
    return VersionEvidence("credit-risk", v, "run", (), metrics, {}, Governance(fairness, {}, card))


@pytest.mark.parametrize(
    ("auc", "brier", "expected"),
    [
        (0.845, 0.15, {"offline_auc": GateStatus.PASSED, "offline_brier": GateStatus.PASSED}),
        (0.83, 0.15, {"offline_auc": GateStatus.FAILED, "offline_brier": GateStatus.PASSED}),
        (0.86, 0.16, {"offline_auc": GateStatus.PASSED, "offline_brier": GateStatus.FAILED}),
        (None, 0.15, {"offline_auc": GateStatus.MISSING, "offline_brier": GateStatus.PASSED}),
    ],
)
def test_offline_gates(auc, brier, expected):
    gates = offline_gates(version("1"), version("2", auc=auc, brier=brier), SETTINGS)
    assert {g.name: g.status for g in gates} == expected


@pytest.mark.parametrize(
    ("fairness", "card", "statuses"),
    [
        ("passed", "# card", (GateStatus.PASSED, GateStatus.PASSED)),
        ("exception", "# card", (GateStatus.PASSED, GateStatus.PASSED)),
        ("failed", "# card", (GateStatus.FAILED, GateStatus.PASSED)),
        (None, None, (GateStatus.MISSING, GateStatus.MISSING)),
    ],
)
def test_governance_gates(fairness, card, statuses):
    fair, model_card = governance_gates(version("2", fairness=fairness, card=card))
    assert (fair.status, model_card.status) == statuses
    assert fair.passed is (statuses[0] is GateStatus.PASSED)


def _frame(decisions: list[str], scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": ["r"] * len(decisions),
            "row_index": range(len(decisions)),
            "decision": decisions,
            "score": scores,
        }
    )


def test_volume_and_agreement():
    champion = _frame(["approve", "approve", "refer", "decline"], [650, 640, 580, 500])
    same = compare(champion, champion.copy(), champion_version="1", challenger_version="2")
    assert volume_gate(same, SETTINGS, pairs_only=True).passed
    assert all(g.passed for g in agreement_gates(same, SETTINGS))
    strict = _frame(["refer", "refer", "refer", "decline"], [650, 640, 580, 500])
    different = compare(champion, strict, champion_version="1", challenger_version="2")
    gates = {g.name: g for g in agreement_gates(different, SETTINGS)}
    assert gates["decision_agreement"].status is GateStatus.FAILED
    assert gates["decision_agreement"].value == pytest.approx(0.5)
    assert gates["approval_rate_change"].status is GateStatus.FAILED
    assert not volume_gate(different, PromotionSettings(min_volume=5), pairs_only=True).passed


def test_live_gates():
    good = LiveFigures(
        {"champion": 1000, "challenger": 400},
        {"champion": 0.001, "challenger": 0.003},
        {"champion": 0.02, "challenger": 0.022},
        0.01,
    )
    assert all(g.passed for g in live_gates(good, SETTINGS))
    slow = LiveFigures(good.calls, good.error_rate, {"champion": 0.02, "challenger": 0.03}, 0.01)
    assert {g.name for g in live_gates(slow, SETTINGS) if not g.passed} == {"live_p99"}
    failing = LiveFigures(good.calls, {"champion": 0.001, "challenger": 0.02}, good.p99_seconds, 0.01)
    assert {g.name for g in live_gates(failing, SETTINGS) if not g.passed} == {"live_error_rate"}
    quiet = LiveFigures({"champion": 1000, "challenger": 3}, good.error_rate, good.p99_seconds, None)
    assert {g.name: g.status for g in live_gates(quiet, SETTINGS)}["live_volume"] is GateStatus.FAILED
    assert {g.name: g.status for g in live_gates(quiet, SETTINGS)}["live_score_psi"] is GateStatus.MISSING
    (missing,) = live_gates(None, SETTINGS, "no --prometheus URL")
    assert missing.status is GateStatus.MISSING
    assert not missing.passed

"""The champion-challenger comparison: every figure on hand-made records whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.comparison import compare, summarise


def frame(rows: list[tuple[str, int, str, float, list[str]]], latency: float = 5.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": [r[0] for r in rows],
            "row_index": [r[1] for r in rows],
            "decision": [r[2] for r in rows],
            "score": [r[3] for r in rows],
            "reason_codes": [r[4] for r in rows],
            "latency_ms": [latency] * len(rows),
            "thin_file": [False] * len(rows),
        }
    )


CHAMPION = frame(
    [
        ("a", 0, "approve", 650.0, []),
        ("a", 1, "approve", 640.0, []),
        ("a", 2, "decline", 480.0, ["R07", "R16"]),
        ("b", 0, "refer", 560.0, ["R16"]),
        ("b", 1, "decline", 470.0, ["R01"]),
    ]
)
# Same applications: one swap-out (a/1), one swap-in (b/0), one unchanged decline with another
# principal reason (b/1), two agreements with the same reasons.
SHADOW = frame(
    [
        ("a", 0, "approve", 655.0, []),
        ("a", 1, "refer", 590.0, ["R02"]),
        ("a", 2, "decline", 475.0, ["R07"]),
        ("b", 0, "approve", 610.0, []),
        ("b", 1, "decline", 465.0, ["R16", "R01"]),
    ],
    latency=9.0,
)


def test_shadow_pairs():
    c = compare(CHAMPION, SHADOW, champion_version="1", challenger_version="2")
    assert c.mode == "shadow"
    s = c.shadow
    assert s.pairs == 5
    assert s.decision_agreement == pytest.approx(3 / 5)
    assert s.decision_flip_rate == pytest.approx(2 / 5)
    assert (s.swap_in, s.swap_out) == (1, 1)
    assert s.swap_in_rate == s.swap_out_rate == pytest.approx(1 / 5)
    assert s.mean_score_delta == pytest.approx(np.mean([5, -50, -5, 50, -5]))
    assert s.mean_abs_score_delta == pytest.approx(np.mean([5, 50, 5, 50, 5]))
    assert s.approval_rate_champion == pytest.approx(2 / 5)
    assert s.approval_rate_challenger == pytest.approx(2 / 5)
    assert s.approval_rate_difference == pytest.approx(0.0)
    # Both adverse on a/2 (R07 = R07) and b/1 (R01 vs R16): half keep their principal reason.
    assert s.principal_reason_agreement == pytest.approx(0.5)
    assert s.decision_matrix["approve"] == {"approve": 1, "refer": 1, "decline": 0}
    assert s.decision_matrix["refer"] == {"approve": 1, "refer": 0, "decline": 0}
    assert s.decision_matrix["decline"] == {"approve": 0, "refer": 0, "decline": 2}
    assert s.score_correlation == pytest.approx(np.corrcoef(CHAMPION["score"], SHADOW["score"])[0, 1])
    assert c.split.challenger_records == 0
    assert c.split.champion_records == 0
    assert c.volume == 5
    assert c.challenger.latency_ms["p50"] == 9.0
    # Reason codes: champion adverse answers are 3 (a/2, b/0, b/1), challenger's 3 (a/1, a/2, b/1).
    diffs = {d["code"]: d for d in c.reason_code_differences}
    assert diffs["R02"]["challenger_share"] == pytest.approx(1 / 3)
    assert diffs["R02"]["champion_share"] == 0.0
    assert diffs["R16"]["champion_share"] == pytest.approx(2 / 3)
    assert diffs["R16"]["challenger_share"] == pytest.approx(1 / 3)


def test_split_populations_compare_as_populations():
    split = frame(
        [("c", 0, "approve", 700.0, []), ("c", 1, "approve", 690.0, []), ("d", 0, "decline", 400.0, ["R07"])]
    )
    c = compare(CHAMPION, split, champion_version="1", challenger_version="2")
    assert c.mode == "split"
    assert c.shadow.pairs == 0
    assert c.shadow.decision_agreement is None
    assert c.split.challenger_records == 3
    assert c.split.champion_records == 5
    assert c.split.approval_rate_difference == pytest.approx(2 / 3 - 2 / 5)
    assert c.approval_rate_difference == c.split.approval_rate_difference
    assert c.split.score_psi is not None
    assert c.split.score_psi > 0


def test_mixed_window_keeps_pairs_and_split_apart():
    split = frame([("c", 0, "approve", 700.0, [])])
    c = compare(
        CHAMPION, pd.concat([SHADOW, split], ignore_index=True), champion_version="1", challenger_version="2"
    )
    assert c.mode == "shadow+split"
    assert c.shadow.pairs == 5
    assert c.split.challenger_records == 1
    assert c.volume == 6


def test_identical_models_agree_completely_with_zero_psi():
    c = compare(CHAMPION, CHAMPION.copy(), champion_version="1", challenger_version="1")
    assert c.shadow.decision_agreement == 1.0
    assert c.shadow.swap_in == c.shadow.swap_out == 0
    assert c.shadow.mean_score_delta == 0.0
    assert c.score_psi == pytest.approx(0.0)
    assert c.shadow.principal_reason_agreement == 1.0


def test_no_challenger_records():
    c = compare(CHAMPION, CHAMPION.iloc[0:0], champion_version="1", challenger_version="2")
    assert c.mode == "none"
    assert c.volume == 0
    assert c.score_psi is None
    assert c.challenger.records == 0
    assert c.as_dict()["shadow"]["pairs"] == 0


def test_summary_of_one_side():
    s = summarise(CHAMPION)
    assert s.records == 5
    assert s.approval_rate == pytest.approx(0.4)
    assert s.decision_mix == {"approve": 0.4, "refer": 0.2, "decline": 0.4}
    assert s.reason_code_share == {
        "R01": pytest.approx(1 / 3),
        "R07": pytest.approx(1 / 3),
        "R16": pytest.approx(2 / 3),
    }

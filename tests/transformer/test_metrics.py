"""The transformer's metric helpers update the series the registry exports (names in
docs/architecture.md), whichever way a block ends, and count every call (label children are
looked up once and reused)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from transformer import metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stage_times_the_block_whether_it_returns_or_raises():
    before = _value("credit_stage_duration_seconds_count", stage="validate")
    with metrics.stage("validate"):
        pass
    with pytest.raises(ValueError, match="bad"), metrics.stage("validate"):
        raise ValueError("bad")
    assert _value("credit_stage_duration_seconds_count", stage="validate") == before + 2


def _answer(decision: str, codes: list[str], thin: bool, score: float) -> dict:
    return {
        "decision": decision,
        "model": {"version": "test-metrics-7"},
        "thin_file": thin,
        "reasons": [{"code": c} for c in codes],
        "score": score,
    }


def test_observe_answers_counts_every_call():
    answers = [_answer("decline", ["R-METRICS-1"], False, 500.0), _answer("approve", [], True, 800.0)]
    for _ in range(3):  # the second and third calls reuse the label children the first made
        metrics.observe_answers(answers, "challenger")
    labels = {"model_version": "test-metrics-7", "role": "challenger"}
    assert _value("credit_applications_total", decision="decline", **labels) == 3
    assert _value("credit_applications_total", decision="approve", **labels) == 3
    assert _value("credit_reason_codes_total", code="R-METRICS-1") == 3
    assert _value("credit_score_count", model_version="test-metrics-7") == 6
    assert _value("credit_score_sum", model_version="test-metrics-7") == 3 * 1300.0


def test_observe_http_counts_by_route_and_status():
    for status in (200, 200, 429):
        metrics.observe_http("/test-metrics/route", status, 0.01)
    assert _value("credit_http_requests_total", route="/test-metrics/route", status="200") == 2
    assert _value("credit_http_requests_total", route="/test-metrics/route", status="429") == 1
    assert _value("credit_http_request_duration_seconds_count", route="/test-metrics/route") == 3

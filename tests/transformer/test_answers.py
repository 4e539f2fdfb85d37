"""The credit answer from a prediction and the model version's policy."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.errors import PredictorRejected
from credit_scoring.features import feature_names
from credit_scoring.policy import RiskBand, ScorePolicy
from credit_scoring.reasons import REASON_CODES
from credit_scoring.schema import Application
from transformer.answers import PolicyBook, build_answers, decide
from transformer.predictor_client import Prediction

NAMES = feature_names()
POLICY = ScorePolicy(
    approve_min_score=600.0,
    decline_below_score=560.0,
    bands=(
        RiskBand(name="A", min_score=640.0),
        RiskBand(name="B", min_score=600.0),
        RiskBand(name="C", min_score=560.0),
        RiskBand(name="D", min_score=0.0),
    ),
    max_reasons=3,
)


def _prediction(scores: list[float], contributions: np.ndarray | None = None) -> Prediction:
    margin = (POLICY.scale.offset - np.asarray(scores)) / POLICY.scale.factor
    return Prediction(
        probability=1 / (1 + np.exp(-margin)),
        margin=margin,
        contributions=contributions,
        model_name="credit-risk",
        model_version="4",
        model_alias="champion",
        credit_policy=POLICY.model_dump_json(),
    )


def _apps(n: int) -> list[Application]:
    return [Application(applicant_id=f"A{i}", amount=1000.0, price=1500.0, term=24) for i in range(n)]


def _contributions(n: int, margin: np.ndarray, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.normal(0, 0.4, size=(n, len(NAMES) + 1))
    out[:, -1] = margin - out[:, :-1].sum(axis=1)  # contributions + bias == margin
    return out


def test_decisions_bands_and_reasons_follow_the_policy():
    scores = [650.0, 610.0, 580.0, 540.0]
    margin = _prediction(scores).margin
    contributions = _contributions(4, margin)
    pred = _prediction(scores, contributions)
    thin = np.array([False, False, False, False])
    answers = build_answers(_apps(4), pred, decide(pred, POLICY, thin), POLICY, thin, "req-1")

    assert [a["decision"] for a in answers] == ["approve", "approve", "refer", "decline"]
    assert [a["risk_band"] for a in answers] == ["A", "B", "C", "D"]
    np.testing.assert_allclose([a["score"] for a in answers], scores)
    assert answers[0]["reasons"] == []
    assert answers[1]["reasons"] == []
    for i in (2, 3):
        reasons = answers[i]["reasons"]
        assert 1 <= len(reasons) <= POLICY.max_reasons
        positive = sorted(
            ((c, n) for c, n in zip(contributions[i, :-1], NAMES, strict=True) if c > 0), reverse=True
        )
        assert [r["feature"] for r in reasons] == [n for _, n in positive[: POLICY.max_reasons]]
        for r in reasons:
            assert r["contribution"] > 0
            assert (r["code"], r["text"]) == REASON_CODES[r["feature"]]
    assert {a["request_id"] for a in answers} == {"req-1"}
    assert answers[0]["model"] == {
        "name": "credit-risk",
        "version": "4",
        "alias": "champion",
        "role": "champion",
    }


def test_thin_file_gets_the_policy_decision_whatever_its_score():
    scores = [700.0, 500.0]
    pred = _prediction(scores, _contributions(2, _prediction(scores).margin))
    thin = np.array([True, True])
    answers = build_answers(_apps(2), pred, decide(pred, POLICY, thin), POLICY, thin, "req-2")
    assert [a["decision"] for a in answers] == ["refer", "refer"]
    assert all(a["thin_file"] for a in answers)
    assert all(a["reasons"] for a in answers)  # a refer needs its reasons too


def test_no_reason_cites_a_feature_that_lowered_risk():
    contributions = np.full((1, len(NAMES) + 1), -0.1)
    contributions[0, NAMES.index("debt_to_income")] = 0.8
    pred = _prediction([500.0], contributions)
    thin = np.array([False])
    answers = build_answers(_apps(1), pred, decide(pred, POLICY, thin), POLICY, thin, "r")
    assert [r["feature"] for r in answers[0]["reasons"]] == ["debt_to_income"]


def test_a_refer_without_contributions_is_an_error_not_a_silent_answer():
    thin = np.array([False])
    for contributions in (None, np.full((1, len(NAMES) + 1), np.nan)):
        pred = _prediction([580.0], contributions)
        with pytest.raises(PredictorRejected, match="reasons"):
            build_answers(_apps(1), pred, decide(pred, POLICY, thin), POLICY, thin, "r")


def test_policy_is_parsed_once_per_policy_text():
    book = PolicyBook(size=2)
    text = POLICY.model_dump_json()
    assert book.get(text) is book.get(text)
    assert book.get(text) == POLICY
    with pytest.raises(PredictorRejected, match="credit_policy"):
        book.get('{"approve_min_score": "high"}')


def test_the_book_asks_for_every_row_until_it_knows_a_version():
    book = PolicyBook()
    thin = np.array([False, True])
    assert book.explain_rows(thin).all
    book.record(_prediction([600.0]))
    explain = book.explain_rows(thin)
    assert (explain.all, explain.for_version) == (False, "4")
    assert explain.margin_above == POLICY.explain_margin_above()
    assert explain.rows is not None
    assert explain.rows.tolist() == [False, True]

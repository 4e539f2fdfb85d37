"""The model's own logic with stand-in dependencies (the real ones run in the HTTP tests):
header allow-list, the extra call for thin files the predictor did not explain, one model
version per answer during a reload, and the chunked hand-off to the inference log."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pytest

from credit_scoring.features import feature_names
from credit_scoring.scaling import RiskBand, ScorePolicy
from credit_scoring.schema import Application
from transformer.log_buffer import ChunkedSink
from transformer.model import CreditScoringModel
from transformer.online_features import FeatureBatch
from transformer.payloads import ScoringRequest
from transformer.predictor_client import Contributions, Prediction

F = len(feature_names())
POLICY = ScorePolicy(
    approve_min_score=600.0,
    decline_below_score=560.0,
    bands=(RiskBand(name="A", min_score=600.0), RiskBand(name="B", min_score=0.0)),
)


@dataclass
class Features:
    """Row i: column 0 holds the score the stand-in predictor gives it, column 1 whether it
    explains the row when asked for "adverse" contributions."""

    found: list[bool]
    scores: list[float]
    explained: list[bool]

    async def lookup(self, applications):
        matrix = np.zeros((len(applications), F), dtype=np.float32)
        matrix[:, 0] = self.scores
        matrix[:, 1] = self.explained
        return FeatureBatch(matrix, np.array(self.found), {})


@dataclass
class Predictor:
    versions: list[str] = field(default_factory=lambda: ["7"])
    calls: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)

    async def infer(
        self, matrix: np.ndarray, contributions: Contributions, headers: Mapping[str, str]
    ) -> Prediction:
        self.calls.append((len(matrix), contributions, dict(headers)))
        version = self.versions[min(len(self.calls), len(self.versions)) - 1]
        margin = (POLICY.scale.offset - matrix[:, 0].astype(np.float64)) / POLICY.scale.factor
        contribs = np.full((len(matrix), F + 1), np.nan)
        for i in range(len(matrix)):
            if contributions == "all" or matrix[i, 1] == 1:
                contribs[i, :-1] = 0.01
                contribs[i, -1] = margin[i] - 0.01 * F
        return Prediction(
            1 / (1 + np.exp(-margin)),
            margin,
            contribs,
            "credit-risk",
            version,
            "champion",
            POLICY.model_dump_json(),
        )

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _model(features: Features, predictor: Predictor, sink=None) -> CreditScoringModel:
    return CreditScoringModel(
        "credit-scoring",
        features,
        predictor,
        max_batch=10,  # type: ignore[arg-type]
        forward_headers=("x-request-id", "traceparent"),
        sink=sink,
        hasher=None,
    )


def _request(n: int) -> ScoringRequest:
    return ScoringRequest(
        [Application(applicant_id=f"A{i}", amount=100.0, price=200.0, term=12) for i in range(n)], "v1"
    )


async def test_only_allow_listed_headers_reach_the_predictor():
    predictor = Predictor()
    model = _model(Features([True], [650.0], [False]), predictor)
    headers = {
        "x-request-id": "r-1",
        "traceparent": "00-abc-def-01",
        "authorization": "Bearer secret",
        "cookie": "session=1",
        "content-type": "application/json",
    }
    result, _ = await model(_request(1), headers=headers)
    assert result.answers[0]["decision"] == "approve"
    assert predictor.calls[0][2] == {"x-request-id": "r-1", "traceparent": "00-abc-def-01"}


@pytest.mark.parametrize("given", ["bad id with spaces", "x" * 129, "a\nb"])
async def test_an_unsafe_request_id_is_replaced_on_every_entry_point(given):
    """KServe's own routes and gRPC reach the model hooks without the fast routes' check: the
    hook must not carry a caller's arbitrary header into logs and the inference log."""
    predictor = Predictor()
    model = _model(Features([True], [650.0], [False]), predictor)
    result, _ = await model(_request(1), headers={"x-request-id": given})
    assert result.request_id != given
    assert re.fullmatch(r"[0-9a-f]{32}", result.request_id)
    assert predictor.calls[0][2]["x-request-id"] == result.request_id


async def test_thin_file_refer_the_predictor_did_not_explain_gets_one_small_extra_call():
    # Row 1 is a thin file the model would approve: policy refers it, so it needs reasons.
    predictor = Predictor()
    model = _model(Features([True, False, True], [650.0, 650.0, 540.0], [False, False, True]), predictor)
    result, _ = await model(_request(3), headers={"x-request-id": "r-2"})
    decisions = [a["decision"] for a in result.answers]
    assert decisions == ["approve", "refer", "decline"]
    assert [(n, mode) for n, mode, _ in predictor.calls] == [(3, "adverse"), (1, "all")]
    assert result.answers[1]["reasons"]
    assert result.answers[2]["reasons"]


async def test_a_version_change_between_the_two_calls_rescores_the_whole_batch():
    predictor = Predictor(versions=["7", "8", "8"])
    model = _model(Features([True, False], [650.0, 650.0], [False, False]), predictor)
    result, _ = await model(_request(2), headers={})
    assert [(n, mode) for n, mode, _ in predictor.calls] == [(2, "adverse"), (1, "all"), (2, "all")]
    assert {a["model"]["version"] for a in result.answers} == {"8"}


@dataclass
class Writer:
    chunks: list[list[int]] = field(default_factory=list)
    closed: bool = False

    def submit(self, records):
        self.chunks.append(list(records))

    def close(self, timeout: float = 30.0) -> None:
        self.closed = True


async def test_records_reach_the_writer_in_chunks_and_nothing_is_left_on_close():
    writer = Writer()
    sink = ChunkedSink(writer, interval=0.05, max_records=5)
    sink.submit([1, 2])
    sink.submit([3])
    assert writer.chunks == []  # gathered, not yet handed over
    await asyncio.sleep(0.1)
    assert writer.chunks == [[1, 2, 3]]  # one hand-over per interval
    sink.submit([4, 5, 6, 7, 8])  # a full chunk goes at once
    assert writer.chunks[-1] == [4, 5, 6, 7, 8]
    sink.submit([9])
    sink.close()
    assert writer.chunks[-1] == [9]
    assert writer.closed

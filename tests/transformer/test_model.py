"""The model's core with stand-in dependencies (the real ones run in the HTTP tests): header
allow-list, the request id on every entry point, exactly one predictor call per request (thin
files included), a version change under the transformer's feet, and the chunked hand-off to the
inference log.

The stand-in predictor applies the explain request exactly as the real one does
(``ExplainRows.select``), so what is tested is the contract, not a copy of it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import orjson
import pytest

from credit_scoring.explain import ExplainRows
from credit_scoring.features import feature_names
from credit_scoring.policy import RiskBand, ScorePolicy
from credit_scoring.schema import Application
from serving.context import RequestContext
from transformer.log_buffer import ChunkedSink
from transformer.model import CreditScoringModel
from transformer.online_features import FeatureBatch
from transformer.payloads import ApplicationBatch, RawBody
from transformer.predictor_client import Prediction
from transformer.store_watch import OnlineStoreWatch

F = len(feature_names())
POLICY = ScorePolicy(
    approve_min_score=600.0,
    decline_below_score=560.0,
    bands=(RiskBand(name="A", min_score=600.0), RiskBand(name="B", min_score=0.0)),
)
# Version 8 approves from 660: a score of 650 is approved by version 7 and referred by version 8.
STRICTER = POLICY.model_copy(update={"approve_min_score": 660.0})


@dataclass
class Features:
    """Row i scores ``scores[i]`` (column 0 of the matrix) and has a profile when ``has_profile[i]``."""

    has_profile: list[bool]
    scores: list[float]
    watch: OnlineStoreWatch = field(default_factory=lambda: OnlineStoreWatch(None, "credit_scoring"))

    async def lookup(self, applications):
        matrix = np.zeros((len(applications), F), dtype=np.float32)
        matrix[:, 0] = self.scores
        return FeatureBatch(matrix, np.array(self.has_profile), {})


@dataclass
class Predictor:
    """Serves ``version`` with ``policies[version]``; explains what the request selects."""

    version: str = "7"
    policies: dict[str, ScorePolicy] = field(default_factory=lambda: {"7": POLICY, "8": STRICTER})
    calls: list[tuple[int, ExplainRows, dict[str, str]]] = field(default_factory=list)

    async def infer(self, matrix: np.ndarray, explain: ExplainRows, headers: Mapping[str, str]) -> Prediction:
        self.calls.append((len(matrix), explain, dict(headers)))
        scale = self.policies[self.version].scale
        margin = ((scale.offset - matrix[:, 0].astype(np.float64)) / scale.factor).astype(np.float32)
        margin = margin.astype(np.float64)
        contributions = np.full((len(matrix), F + 1), np.nan)
        rows = explain.select(margin, self.version) if explain.any else np.zeros(len(matrix), dtype=bool)
        contributions[rows, :-1] = 0.01
        contributions[rows, -1] = margin[rows] - 0.01 * F
        return Prediction(
            1 / (1 + np.exp(-margin)),
            margin,
            contributions,
            "credit-risk",
            self.version,
            "champion",
            self.policies[self.version].model_dump_json(),
        )

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _model(features: Features, predictor: Predictor, sink=None) -> CreditScoringModel:
    model = CreditScoringModel(
        "credit-scoring",
        features,  # type: ignore[arg-type]
        predictor,
        max_batch=10,
        forward_headers=("x-request-id", "traceparent"),
        sink=sink,
        hasher=None,
    )
    model.load()
    return model


def _batch(n: int) -> ApplicationBatch:
    return ApplicationBatch(
        [Application(applicant_id=f"A{i}", amount=100.0, price=200.0, term=12) for i in range(n)], "v1"
    )


def _context(**headers: str) -> RequestContext:
    return RequestContext.from_headers(headers, ("x-request-id", "traceparent"))


async def test_only_allow_listed_headers_reach_the_predictor():
    predictor = Predictor()
    model = _model(Features([True], [650.0]), predictor)
    headers = {
        "x-request-id": "r-1",
        "traceparent": "00-abc-def-01",
        "authorization": "Bearer secret",
        "cookie": "session=1",
        "content-type": "application/json",
    }
    answers = await model.score(_batch(1), _context(**headers))
    assert answers.answers[0]["decision"] == "approve"
    assert predictor.calls[0][2] == {"x-request-id": "r-1", "traceparent": "00-abc-def-01"}


@pytest.mark.parametrize("given", ["bad id with spaces", "x" * 129, "a\nb"])
async def test_an_unsafe_request_id_is_replaced_on_every_entry_point(given):
    """KServe's own routes and gRPC reach the hooks without the router's stamp: the context must
    not carry a caller's arbitrary header into logs and the inference log."""
    predictor = Predictor()
    model = _model(Features([True], [650.0]), predictor)
    call = await model.preprocess(_batch(1), {"x-request-id": given})
    call = await model.predict(call)
    assert call.answers is not None
    assert call.answers.request_id != given
    assert re.fullmatch(r"[0-9a-f]{32}", call.answers.request_id)
    assert predictor.calls[0][2]["x-request-id"] == call.answers.request_id


async def test_one_call_per_request_thin_files_included():
    """Row 1 is a thin file the model would approve: the policy refers it, so it needs reasons.
    The transformer says so in its one call (the explain mask); no second call fills it in."""
    predictor = Predictor()
    model = _model(Features([True, False, True], [650.0, 650.0, 540.0]), predictor)
    await model.score(_batch(3), _context())  # learns version 7 and its policy
    predictor.calls.clear()
    answers = (await model.score(_batch(3), _context())).answers
    assert [a["decision"] for a in answers] == ["approve", "refer", "decline"]
    assert len(predictor.calls) == 1
    explain = predictor.calls[0][1]
    assert (explain.all, explain.for_version, explain.margin_above) == (
        False,
        "7",
        POLICY.explain_margin_above(),
    )
    assert explain.rows is not None
    assert explain.rows.tolist() == [False, True, False]
    assert answers[0]["reasons"] == []
    assert answers[1]["reasons"]
    assert answers[2]["reasons"]


async def test_before_the_first_answer_every_row_is_explained_in_the_one_call():
    predictor = Predictor()
    model = _model(Features([True], [540.0]), predictor)
    answers = (await model.score(_batch(1), _context())).answers
    assert len(predictor.calls) == 1
    assert predictor.calls[0][1].all
    assert answers[0]["reasons"]


async def test_a_version_change_under_the_transformers_feet_costs_no_second_call():
    """The transformer asks with version 7's cut-off; the predictor now serves version 8, whose
    cut-off is stricter. Version 8 explains every row (the request named version 7), and the
    answers are version 8's: its decisions, with the reasons they owe."""
    predictor = Predictor()
    model = _model(Features([True, True], [650.0, 700.0]), predictor)
    first = (await model.score(_batch(2), _context())).answers
    assert [a["decision"] for a in first] == ["approve", "approve"]
    predictor.calls.clear()
    predictor.version = "8"
    answers = (await model.score(_batch(2), _context())).answers
    assert len(predictor.calls) == 1
    assert predictor.calls[0][1].for_version == "7"
    assert {a["model"]["version"] for a in answers} == {"8"}
    assert [a["decision"] for a in answers] == ["refer", "approve"]  # 650 < 660: version 8 refers
    assert answers[0]["reasons"]
    # The next request asks with version 8's cut-off.
    predictor.calls.clear()
    await model.score(_batch(2), _context())
    assert predictor.calls[0][1].for_version == "8"
    assert predictor.calls[0][1].margin_above == STRICTER.explain_margin_above()


async def test_every_transport_reaches_the_one_core_through_kserves_hooks():
    """A fast route's raw body, KServe's v1 dict and its InferRequest: the same answers, each
    rendered in the form it came in."""
    from kserve.protocol.infer_type import InferInput, InferRequest

    predictor = Predictor()
    model = _model(Features([True], [650.0]), predictor)
    app = {"applicant_id": "A0", "amount": 100.0, "price": 200.0, "term": 12}
    raw, _ = await model(
        RawBody("v1", orjson.dumps({"instances": [app]}), "application/json"), {"x-request-id": "h-1"}
    )
    parsed, _ = await model({"instances": [app]}, {"x-request-id": "h-2"})
    tensor = InferInput("applications", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([orjson.dumps(app)], dtype=np.object_), binary_data=False)
    kserve, _ = await model(
        InferRequest("credit-scoring", [tensor], request_id="v2-id"), {"x-request-id": "h-3"}
    )
    from_raw = orjson.loads(raw)["predictions"][0]
    from_dict = parsed["predictions"][0]
    from_kserve = orjson.loads(kserve.get_output_by_name("answers").as_numpy()[0])
    assert [a["request_id"] for a in (from_raw, from_dict, from_kserve)] == ["h-1", "h-2", "h-3"]
    strip = [{k: v for k, v in a.items() if k != "request_id"} for a in (from_raw, from_dict, from_kserve)]
    assert strip[0] == strip[1] == strip[2]
    assert kserve.id == "v2-id"
    assert [call[2]["x-request-id"] for call in predictor.calls] == ["h-1", "h-2", "h-3"]


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

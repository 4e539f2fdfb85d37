"""Shadow scoring in micro-batches, with the stand-in predictors of ``test_model``: requests queued
together reach the challenger in one call and come back to the log as one record batch, each
request's rows under its own id, row indexes and latency (hashes kept, served false); a full
queue skips and counts; shutdown counts what was queued or in flight; a failing challenger never
touches the champion's answers.
The real servers do it under load in ``test_shadow_outage.py``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
import pytest

from credit_scoring.errors import PredictorUnavailable
from inference_log import Role
from tests.transformer.test_model import F, Predictor, _context
from tests.transformer.test_split import Hasher, ListSink, _batch
from transformer import metrics
from transformer.model import CreditScoringModel
from transformer.online_features import FeatureBatch
from transformer.store_watch import OnlineStoreWatch

IDS = [f"applicant-{i:03d}" for i in range(12)]
# Scores around the approve (600 for version 7) and decline (560) cut-offs, so every decision and
# reasons for some rows take part.
SCORES = {a: 540.0 + 10 * i for i, a in enumerate(IDS)}


@dataclass
class Features:
    """Each applicant's score in column 0, whatever the batch; ``sex``-free audit columns as the
    real reader gives them (an array and a list), so joining and cutting blocks is exercised."""

    watch: OnlineStoreWatch = field(default_factory=lambda: OnlineStoreWatch(None, "credit_scoring"))

    async def lookup(self, applications):
        matrix = np.zeros((len(applications), F), dtype=np.float32)
        matrix[:, 0] = [SCORES[a.applicant_id] for a in applications]
        age = np.array([30.0 + i for i in range(len(applications))])
        marital = ["married" if SCORES[a.applicant_id] > 580 else None for a in applications]
        has_profile = np.array([a.applicant_id != IDS[0] for a in applications])
        return FeatureBatch(matrix, has_profile, {"age": age, "marital": marital})


class Gated(Predictor):
    """A challenger that answers only when ``gate`` is set (a slow one)."""

    def __init__(self, version: str = "8") -> None:
        super().__init__(version=version)
        self.gate = asyncio.Event()

    async def infer(self, matrix, explain, headers):
        await self.gate.wait()
        return await super().infer(matrix, explain, headers)


class Down(Predictor):
    """A challenger that fails every call while ``down``."""

    down = True

    async def infer(self, matrix, explain, headers):
        if not self.down:
            return await super().infer(matrix, explain, headers)
        self.calls.append((len(matrix), explain, dict(headers)))
        raise PredictorUnavailable("challenger predictor is unreachable")


def _model(champion: Predictor, challenger: Predictor | None, sink: ListSink, **bounds) -> CreditScoringModel:
    model = CreditScoringModel(
        "credit-scoring",
        Features(),  # type: ignore[arg-type]
        champion,
        max_batch=100,
        forward_headers=("x-request-id",),
        sink=sink,
        hasher=Hasher(),  # type: ignore[arg-type]
        shadow=challenger,
        **bounds,
    )
    model.load()
    return model


REQUESTS = [IDS[0:1], IDS[1:4], IDS[4:5], IDS[5:12]]


async def _drain(model: CreditScoringModel) -> None:
    shadow = model.shadow
    assert shadow is not None
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not shadow.queued_rows and not shadow._calls:
            return
    raise AssertionError("shadow calls did not finish")


async def test_queued_requests_are_scored_in_one_call_and_logged_under_their_own_ids():
    plain_sink, sink = ListSink(), ListSink()
    plain = _model(Predictor(version="7"), None, plain_sink)
    challenger = Predictor(version="8")
    model = _model(Predictor(version="7"), challenger, sink, shadow_batch_wait_seconds=0.2)

    served, expected = [], []
    for k, ids in enumerate(REQUESTS):
        served.append((await model.score(_batch(ids), _context(**{"x-request-id": f"r{k}"}))).answers)
        expected.append((await plain.score(_batch(ids), _context(**{"x-request-id": f"r{k}"}))).answers)
    # The answers were given before any shadow call, and are the champion's own.
    assert challenger.calls == []
    assert served == expected
    await _drain(model)

    # One call for the four requests' 12 rows; no request's headers travel with it.
    assert [(n, headers) for n, _, headers in challenger.calls] == [(len(IDS), {})]
    # The block goes to the log as one batch, each request's rows under its own id.
    (block,) = [b for b in sink.batches if b.role is Role.CHALLENGER]
    assert block.served is False
    records = block.records()
    assert [r.request_id for r in records] == [f"r{k}" for k, ids in enumerate(REQUESTS) for _ in ids]
    start = 0
    for ids, champion_batch in zip(REQUESTS, plain_sink.batches, strict=True):
        own = records[start : start + len(ids)]
        assert [r.applicant_hash for r in own] == [f"h-{a}" for a in ids]
        assert [r.row_index for r in own] == list(range(len(ids)))  # each request's own rows
        assert {r.model_version for r in own} == {"8"}
        assert {r.latency_ms for r in own} == {own[0].latency_ms}  # one latency per request
        np.testing.assert_array_equal(block.features[start : start + len(ids)], champion_batch.features)
        assert block.thin_file[start : start + len(ids)].tolist() == champion_batch.thin_file.tolist()
        assert [r.age_band for r in own] == list(champion_batch.age_band)
        assert [r.marital for r in own] == list(champion_batch.marital)
        start += len(ids)
    # Each its own latency, queue wait included: the first request queued waited longest.
    assert records[0].latency_ms > records[-1].latency_ms > 0
    # Version 8 refers what version 7 approves between 600 and 660: the challenger's own policy,
    # and reasons for exactly the rows it did not approve.
    champion_decisions = [d for b in plain_sink.batches for d in b.decision]
    assert champion_decisions != list(block.decision)
    for decision, codes in zip(block.decision, block.reason_codes, strict=True):
        assert bool(codes) == (decision != "approve")


async def test_a_full_block_goes_at_once_and_blocks_hold_at_most_batch_rows():
    challenger = Predictor(version="8")
    model = _model(
        Predictor(version="7"), challenger, ListSink(), shadow_batch_rows=4, shadow_batch_wait_seconds=5.0
    )
    for ids in REQUESTS:
        await model.score(_batch(ids), _context())
    await _drain(model)  # well before the 5 s wait: every block was full or forced out
    # 1+3 rows, then 1 (the next request of 7 would go beyond 4), then the 7-row request alone.
    assert [n for n, _, _ in challenger.calls] == [4, 1, 7]


async def test_a_full_queue_skips_and_counts_and_shutdown_counts_what_is_pending():
    challenger = Gated()
    sink = ListSink()
    model = _model(
        Predictor(version="7"),
        challenger,
        sink,
        shadow_max_in_flight=1,
        shadow_batch_rows=4,
        shadow_batch_wait_seconds=0.0,
        shadow_queue_rows=4,
    )
    skipped = metrics.SHADOW_SKIPPED._value.get()
    await model.score(_batch(IDS[0:4]), _context())
    await asyncio.sleep(0.05)  # the first block is in flight, held by the gate
    assert [n for n, _, _ in challenger.calls] == []
    await model.score(_batch(IDS[4:7]), _context())  # queued: 3 of 4 rows
    answers = (await model.score(_batch(IDS[7:9]), _context())).answers  # 3 + 2 > 4: skipped
    assert len(answers) == 2
    assert metrics.SHADOW_SKIPPED._value.get() - skipped == 2
    model.shadow.cancel()  # type: ignore[union-attr]
    # Shutdown: 4 rows in flight and 3 queued were not shadow-scored.
    assert metrics.SHADOW_SKIPPED._value.get() - skipped == 2 + 4 + 3
    challenger.gate.set()
    await asyncio.sleep(0.05)
    assert [b for b in sink.batches if b.role is Role.CHALLENGER] == []


async def test_a_request_larger_than_the_queue_is_still_shadowed_when_alone():
    challenger = Predictor(version="8")
    model = _model(
        Predictor(version="7"), challenger, ListSink(), shadow_queue_rows=2, shadow_batch_wait_seconds=0.0
    )
    skipped = metrics.SHADOW_SKIPPED._value.get()
    await model.score(_batch(IDS), _context())
    await _drain(model)
    assert [n for n, _, _ in challenger.calls] == [len(IDS)]
    assert metrics.SHADOW_SKIPPED._value.get() == skipped


async def test_a_failing_challenger_counts_one_failure_per_call_and_never_touches_answers():
    failures = metrics.DEPENDENCY_FAILURES.labels(dependency="shadow_predictor")
    before = failures._value.get()
    challenger = Down(version="8")
    sink = ListSink()
    model = _model(Predictor(version="7"), challenger, sink, shadow_batch_wait_seconds=0.1)
    plain = _model(Predictor(version="7"), None, ListSink())
    for ids in REQUESTS:
        served = (await model.score(_batch(ids), _context(**{"x-request-id": "r"}))).answers
        expected = (await plain.score(_batch(ids), _context(**{"x-request-id": "r"}))).answers
        assert served == expected
    await _drain(model)
    assert len(challenger.calls) == 1
    assert failures._value.get() - before == 1
    assert {b.role for b in sink.batches} == {Role.CHAMPION}
    # The queue works on after a failure.
    challenger.down = False
    await model.score(_batch(IDS[:2]), _context())
    await _drain(model)
    assert [b.role for b in sink.batches].count(Role.CHALLENGER) == 1


@pytest.mark.parametrize("bounds", [{"shadow_batch_rows": 0}, {"shadow_queue_rows": 0}])
def test_bounds_must_be_positive(bounds):
    with pytest.raises(ValueError, match="positive"):
        _model(Predictor(), Predictor(), ListSink(), **bounds)

"""Split mode in the model's core, with the stand-in predictors of ``test_model``: each side's
predictor is called once for its applicants, answers keep request order and carry their role and
version, the challenger decides with its own version's policy, and the log says what was served.
The real servers do the same in ``test_split_http.py``."""

from __future__ import annotations

import numpy as np
import pytest

from credit_scoring.errors import PredictorUnavailable
from credit_scoring.schema import Application
from inference_log import RecordBatch, Role
from tests.transformer.test_model import Features, Predictor, _context
from transformer import metrics
from transformer.model import CreditScoringModel
from transformer.payloads import ApplicationBatch
from transformer.routing import challenger_rows
from transformer.split import Split


class ListSink:
    def __init__(self) -> None:
        self.batches: list[RecordBatch] = []

    def submit(self, records) -> None:
        self.batches.append(records)

    def close(self, timeout: float = 30.0) -> None:
        return None


class Hasher:
    def __call__(self, applicant_id: str) -> str:
        return f"h-{applicant_id}"


IDS = [f"applicant-{i:03d}" for i in range(40)]


def _batch(ids: list[str]) -> ApplicationBatch:
    return ApplicationBatch(
        [Application(applicant_id=a, amount=100.0, price=200.0, term=12) for a in ids], "v1"
    )


def _split_model(percent: int, champion: Predictor, challenger: Predictor, sink=None) -> CreditScoringModel:
    model = CreditScoringModel(
        "credit-scoring",
        Features([True] * len(IDS), [650.0] * len(IDS)),  # type: ignore[arg-type]
        champion,
        max_batch=100,
        forward_headers=("x-request-id",),
        sink=sink,
        hasher=Hasher(),  # type: ignore[arg-type]
        split=Split(challenger, percent),
    )
    model.load()
    return model


async def test_each_side_decides_its_applicants_with_its_own_policy_in_request_order():
    champion, challenger = Predictor(version="7"), Predictor(version="8")
    sink = ListSink()
    model = _split_model(50, champion, challenger, sink)
    answers = (await model.score(_batch(IDS), _context(**{"x-request-id": "r-split"}))).answers

    expected = challenger_rows(IDS, 50, salt="8")
    assert 0 < expected.sum() < len(IDS)
    assert [a["applicant_id"] for a in answers] == IDS
    roles = [a["model"]["role"] for a in answers]
    assert roles == ["challenger" if c else "champion" for c in expected]
    assert {a["model"]["version"] for a, c in zip(answers, expected, strict=True) if c} == {"8"}
    assert {a["model"]["version"] for a, c in zip(answers, expected, strict=True) if not c} == {"7"}
    # A score of 650: version 7 approves from 600, version 8 (the challenger) only from 660.
    assert {a["decision"] for a, c in zip(answers, expected, strict=True) if c} == {"refer"}
    assert {a["decision"] for a, c in zip(answers, expected, strict=True) if not c} == {"approve"}
    # One call per side with its own rows; the salt came from the challenger's metadata once.
    assert [n for n, _, _ in champion.calls] == [int((~expected).sum())]
    assert [n for n, _, _ in challenger.calls] == [int(expected.sum())]
    assert challenger.metadata_calls == 1
    assert champion.metadata_calls == 0

    # The log: each side's rows under their index in the request, both served.
    by_role = {b.role: b for b in sink.batches}
    assert set(by_role) == {Role.CHAMPION, Role.CHALLENGER}
    for role, side in ((Role.CHALLENGER, expected), (Role.CHAMPION, ~expected)):
        logged = by_role[role]
        assert logged.served is True
        assert [r.row_index for r in logged.records()] == np.flatnonzero(side).tolist()
        assert [r.applicant_hash for r in logged.records()] == [f"h-{IDS[i]}" for i in np.flatnonzero(side)]
        assert {r.model_version for r in logged.records()} == {"8" if role is Role.CHALLENGER else "7"}
        assert [row[-1] for row in logged.values(str)] == [True] * len(logged)

    # Same applicants, same sides, on the next request (no further metadata call: answers salt it).
    again = (await model.score(_batch(list(reversed(IDS))), _context())).answers
    assert [a["model"]["role"] for a in again] == list(reversed(roles))
    assert challenger.metadata_calls == 1


@pytest.mark.parametrize(("percent", "sides"), [(0, {"champion"}), (100, {"challenger"})])
async def test_all_or_nothing_needs_no_salt(percent: int, sides: set[str]):
    champion, challenger = Predictor(version="7"), Predictor(version="8")
    model = _split_model(percent, champion, challenger)
    answers = (await model.score(_batch(IDS), _context())).answers
    assert {a["model"]["role"] for a in answers} == sides
    assert challenger.metadata_calls == 0
    assert len(champion.calls) + len(challenger.calls) == 1


async def test_an_unreachable_challenger_is_a_503_counted_against_it():
    class Down(Predictor):
        async def served_version(self) -> str:
            raise PredictorUnavailable("challenger predictor is unreachable")

        async def infer(self, *args, **kwargs):
            raise PredictorUnavailable("challenger predictor is unreachable")

    before = metrics.DEPENDENCY_FAILURES.labels(dependency="challenger_predictor")._value.get()
    champion = Predictor(version="7")
    model = _split_model(30, champion, Down(version="8"))
    with pytest.raises(PredictorUnavailable, match="challenger"):
        await model.score(_batch(IDS), _context())
    # Once the salt is known (an earlier answer), the call itself fails the same way.
    model.split.answered("8")  # type: ignore[union-attr]
    with pytest.raises(PredictorUnavailable, match="challenger"):
        await model.score(_batch(IDS), _context())
    after = metrics.DEPENDENCY_FAILURES.labels(dependency="challenger_predictor")._value.get()
    assert after - before == 2


def test_split_and_shadow_are_not_both_configured():
    with pytest.raises(ValueError, match="one"):
        CreditScoringModel(
            "credit-scoring",
            Features([True], [650.0]),  # type: ignore[arg-type]
            Predictor(),
            max_batch=1,
            forward_headers=(),
            shadow=Predictor(),
            split=Split(Predictor(), 10),
        )


@pytest.mark.parametrize("percent", [None, 30])
async def test_an_unreachable_champion_is_counted_against_the_predictor(percent: int | None):
    class Down(Predictor):
        async def infer(self, *args, **kwargs):
            raise PredictorUnavailable("predictor is unreachable")

    counter = metrics.DEPENDENCY_FAILURES.labels(dependency="predictor")
    before = counter._value.get()
    if percent is None:
        model = CreditScoringModel(
            "credit-scoring",
            Features([True] * len(IDS), [650.0] * len(IDS)),  # type: ignore[arg-type]
            Down(),
            max_batch=100,
            forward_headers=(),
        )
        model.load()
    else:
        model = _split_model(percent, Down(version="7"), Predictor(version="8"))
    with pytest.raises(PredictorUnavailable):
        await model.score(_batch(IDS), _context())
    assert counter._value.get() - before == 1

"""The micro-batcher in-process: batching of concurrent requests, version isolation, and
contributions for exactly the rows the caller asks for (the predictor applies no policy)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from credit_scoring import features as F
from credit_scoring.explain import ExplainRows
from predictor.scoring import LoadedModel, MicroBatcher
from tests.predictor.registry_helpers import credit_data, policy_for, train_booster

ALL = ExplainRows(all=True)


class CountingBooster:
    """A real booster that counts the calls made to it."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.calls: list[int] = []

    def inplace_predict(self, matrix: np.ndarray, **kwargs: Any) -> np.ndarray:
        self.calls.append(matrix.shape[0])
        return self.booster.inplace_predict(matrix, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.booster.predict(*args, **kwargs)


def _model(seed: int, version: str) -> tuple[LoadedModel, CountingBooster]:
    booster = train_booster(seed=seed, rounds=30)
    counting = CountingBooster(booster)
    model = LoadedModel(
        name="m",
        version=version,
        alias="champion",
        credit_policy=policy_for(booster).model_dump_json(),
        booster=counting,
        threaded_booster=counting,
    )
    return model, counting


@pytest.fixture(scope="module")
def two_models() -> tuple[tuple[LoadedModel, CountingBooster], tuple[LoadedModel, CountingBooster]]:
    return _model(7, "1"), _model(11, "2")


@pytest.fixture
def scorer():
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield MicroBatcher(executor, inline_max_rows=64)


async def test_concurrent_requests_share_one_booster_call(two_models, scorer):
    (model, counting), _ = two_models
    rows = credit_data()[0][:20]
    counting.calls.clear()
    results = await asyncio.gather(*(scorer.predict(model, rows[i : i + 1]) for i in range(20)))
    assert counting.calls == [20]
    expected = counting.booster.inplace_predict(rows)
    np.testing.assert_allclose([r.probability[0] for r in results], expected, atol=1e-6)


async def test_each_request_is_scored_by_the_version_it_started_with(two_models, scorer):
    (first, c1), (second, c2) = two_models
    rows = credit_data()[0][:10]
    c1.calls.clear()
    c2.calls.clear()
    jobs = [scorer.predict(first if i % 2 else second, rows[i : i + 1]) for i in range(10)]
    results = await asyncio.gather(*jobs)
    assert c1.calls == [5]
    assert c2.calls == [5]
    for i, result in enumerate(results):
        booster = (c1 if i % 2 else c2).booster
        assert result.probability[0] == pytest.approx(
            float(booster.inplace_predict(rows[i : i + 1])[0]), abs=1e-6
        )


async def test_big_batches_leave_the_event_loop(two_models, scorer):
    (model, counting), _ = two_models
    rows = credit_data()[0][:200]
    result = await scorer.predict(model, rows)
    np.testing.assert_allclose(result.probability, counting.booster.inplace_predict(rows), atol=1e-6)


async def test_explains_the_rows_the_caller_selects(two_models, scorer):
    (model, _), _ = two_models
    rows = np.array(credit_data()[0][:60], copy=True)
    plain = await scorer.predict(model, rows)
    assert plain.contributions is None  # nothing asked, nothing computed
    threshold = float(np.median(plain.margin))
    mask = np.zeros(60, dtype=bool)
    mask[[0, 1]] = True  # e.g. thin files the caller's policy refers, whatever their margin
    explain = ExplainRows(margin_above=threshold, rows=mask, for_version=model.version)
    result = await scorer.predict(model, rows, explain)
    assert result.contributions is not None
    computed = ~np.isnan(result.contributions).all(axis=1)
    np.testing.assert_array_equal(computed, (result.margin > threshold) | mask)
    assert computed.any()
    assert not computed.all()
    np.testing.assert_allclose(result.contributions[computed].sum(axis=1), result.margin[computed], atol=1e-4)
    assert result.contributions.shape == (60, len(F.MODEL_FEATURES) + 1)


async def test_a_request_for_another_version_explains_every_row(two_models, scorer):
    """The caller derived its margin from version 7's policy; this is version 1: the caller will
    decide with version 1's policy, so every row comes explained (no second call needed)."""
    (model, _), _ = two_models
    rows = np.array(credit_data()[0][:20], copy=True)
    explain = ExplainRows(margin_above=1e9, for_version="7")  # would explain nothing for version 7
    result = await scorer.predict(model, rows, explain)
    assert result.contributions is not None
    assert np.isfinite(result.contributions).all()


async def test_a_bad_request_in_a_batch_fails_alone(two_models, scorer):
    (model, _), _ = two_models
    bad = np.zeros((1, 3), dtype=np.float32)  # the booster refuses 3 columns
    good = credit_data()[0][:2]
    results = await asyncio.gather(
        scorer.predict(model, good[:1]),
        scorer.predict(model, bad),
        scorer.predict(model, good[1:]),
        return_exceptions=True,
    )
    assert isinstance(results[1], Exception)
    assert [r.probability.shape for r in (results[0], results[2])] == [(1,), (1,)]


class CountingExecutor(ThreadPoolExecutor):
    """A real one-thread pool that counts what is handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(*args, **kwargs)


@pytest.fixture(scope="module")
def shallow_model() -> LoadedModel:
    """Depth-3 trees, like the trained model: the predictor explains them with TreeSHAP tables."""
    booster = train_booster(seed=3, rounds=30, max_depth=3)
    return LoadedModel(
        name="m",
        version="1",
        alias="champion",
        credit_policy=policy_for(booster).model_dump_json(),
        booster=booster,
        threaded_booster=booster,
    )


def _every_row(how: str, n: int) -> ExplainRows:
    """Every row explained, asked for as "all rows" or as a mask of every row."""
    return ALL if how == "all" else ExplainRows(rows=np.ones(n, dtype=bool))


@pytest.mark.parametrize("contribs", ["mask", "all"])
async def test_small_blocks_are_explained_on_the_event_loop(shallow_model, contribs):
    """Tables make a few rows cheaper to explain inline than to hand to a thread; big blocks,
    and models without tables (XGBoost's own TreeSHAP, ~1 ms per row), still leave the loop."""
    model = shallow_model
    assert model.shap is not None
    rows = np.array(credit_data()[0][:200], copy=True)
    reference = model._xgboost_contributions(rows)
    with CountingExecutor() as executor:
        scorer = MicroBatcher(executor, inline_max_rows=64)
        small = await scorer.predict(model, rows[:8], _every_row(contribs, 8))
        assert executor.submitted == 0
        big = await scorer.predict(model, rows, _every_row(contribs, 200))
        assert executor.submitted >= 1
    for result, n in ((small, 8), (big, 200)):
        assert result.contributions is not None
        np.testing.assert_allclose(result.contributions, reference[:n], atol=1e-5)


async def test_models_without_tables_explain_in_a_worker_thread(shallow_model):
    model = shallow_model
    deep = LoadedModel(
        name=model.name,
        version="9",
        alias=None,
        credit_policy=model.credit_policy,
        booster=model.booster,
        threaded_booster=model.threaded_booster,
    )
    object.__setattr__(deep, "shap", None)  # as for trees too deep for tables
    rows = credit_data()[0][:2]
    with CountingExecutor() as executor:
        result = await MicroBatcher(executor, inline_max_rows=64).predict(deep, rows, ALL)
        assert executor.submitted == 1
    assert result.contributions is not None
    np.testing.assert_allclose(result.contributions, model._xgboost_contributions(rows), atol=1e-5)

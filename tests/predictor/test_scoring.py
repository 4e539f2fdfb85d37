"""The scorer in-process: batching of concurrent requests, version isolation, adverse contributions."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from credit_scoring import features as F
from predictor.scoring import PROFILE_COLUMNS, LoadedModel, Scorer
from tests.predictor.registry_helpers import credit_data, policy_for, train_booster


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
        policy=policy_for(booster),
        booster=counting,
        wide_booster=counting,
    )
    return model, counting


@pytest.fixture(scope="module")
def two_models() -> tuple[tuple[LoadedModel, CountingBooster], tuple[LoadedModel, CountingBooster]]:
    return _model(7, "1"), _model(11, "2")


@pytest.fixture
def scorer():
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield Scorer(executor, inline_max_rows=64)


async def test_concurrent_requests_share_one_booster_call(two_models, scorer):
    (model, counting), _ = two_models
    rows = credit_data()[0][:20]
    counting.calls.clear()
    results = await asyncio.gather(*(scorer.score(model, rows[i : i + 1]) for i in range(20)))
    assert counting.calls == [20]
    expected = counting.booster.inplace_predict(rows)
    np.testing.assert_allclose([r.probability[0] for r in results], expected, atol=1e-6)


async def test_each_request_is_scored_by_the_version_it_started_with(two_models, scorer):
    (first, c1), (second, c2) = two_models
    rows = credit_data()[0][:10]
    c1.calls.clear()
    c2.calls.clear()
    jobs = [scorer.score(first if i % 2 else second, rows[i : i + 1]) for i in range(10)]
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
    result = await scorer.score(model, rows)
    np.testing.assert_allclose(result.probability, counting.booster.inplace_predict(rows), atol=1e-6)


async def test_adverse_explains_refusals_and_thin_files_only(two_models, scorer):
    (model, _), _ = two_models
    rows = np.array(credit_data()[0][:60], copy=True)
    rows[0, PROFILE_COLUMNS] = np.nan  # an applicant the feature store does not know
    result = await scorer.score(model, rows, "adverse")
    assert result.contributions is not None
    computed = ~np.isnan(result.contributions).all(axis=1)
    score = model.policy.scale.score_from_margin(result.margin)
    expected = score < model.policy.approve_min_score
    expected[0] = True
    np.testing.assert_array_equal(computed, expected)
    assert computed.any()
    assert not computed.all()
    np.testing.assert_allclose(result.contributions[computed].sum(axis=1), result.margin[computed], atol=1e-4)
    assert result.contributions.shape == (60, len(F.MODEL_FEATURES) + 1)


async def test_a_bad_request_in_a_batch_fails_alone(two_models, scorer):
    (model, _), _ = two_models
    bad = np.zeros((1, 3), dtype=np.float32)  # the booster refuses 3 columns
    good = credit_data()[0][:2]
    results = await asyncio.gather(
        scorer.score(model, good[:1]),
        scorer.score(model, bad),
        scorer.score(model, good[1:]),
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
        policy=policy_for(booster),
        booster=booster,
        wide_booster=booster,
    )


@pytest.mark.parametrize("contribs", ["adverse", "all"])
async def test_small_blocks_are_explained_on_the_event_loop(shallow_model, contribs):
    """Tables make a few rows cheaper to explain inline than to hand to a thread; big blocks,
    and models without tables (XGBoost's own TreeSHAP, ~1 ms per row), still leave the loop."""
    model = shallow_model
    assert model.shap is not None
    rows = np.array(credit_data()[0][:200], copy=True)
    rows[:, PROFILE_COLUMNS] = np.nan  # thin files: every row needs reasons
    reference = model._xgboost_contributions(rows)
    with CountingExecutor() as executor:
        scorer = Scorer(executor, inline_max_rows=64)
        small = await scorer.score(model, rows[:8], contribs)
        assert executor.submitted == 0
        big = await scorer.score(model, rows, contribs)
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
        policy=model.policy,
        booster=model.booster,
        wide_booster=model.wide_booster,
    )
    object.__setattr__(deep, "shap", None)  # as for trees too deep for tables
    rows = credit_data()[0][:2]
    with CountingExecutor() as executor:
        result = await Scorer(executor, inline_max_rows=64).score(deep, rows, "all")
        assert executor.submitted == 1
    assert result.contributions is not None
    np.testing.assert_allclose(result.contributions, model._xgboost_contributions(rows), atol=1e-5)

"""TreeSHAP by table look-up equals XGBoost's own ``pred_contribs`` (exact, not an approximation)."""

from __future__ import annotations

import mlflow.xgboost
import numpy as np
import pytest
import xgboost as xgb

from credit_scoring.features import MODEL_FEATURES, Kind
from predictor import treeshap
from training.dataset import Split, training_frame
from training.model import ModelConfig, dmatrix, fit

pytestmark = pytest.mark.slow


def _xgboost(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    out: np.ndarray = booster.predict(dmatrix(matrix), pred_contribs=True)
    return out


def _tables(booster: xgb.Booster) -> treeshap.ShapTables | None:
    bias = float(_xgboost(booster, np.full((1, len(MODEL_FEATURES)), np.nan, np.float32))[0, -1])
    return treeshap.build(booster, bias)


@pytest.fixture(scope="module")
def applicants(credit_env) -> tuple[np.ndarray, np.ndarray]:
    frame = training_frame(credit_env.feature_store(), credit_env.applications)
    return Split.matrix(frame), Split.labels(frame)


@pytest.fixture(scope="module")
def champion(credit_env) -> xgb.Booster:
    return mlflow.xgboost.load_model(credit_env.model_uri)


def _perturbed(matrix: np.ndarray, seed: int = 0) -> np.ndarray:
    """Every applicant again with random holes, unseen category codes and out-of-range values."""
    rng = np.random.default_rng(seed)
    out = matrix.copy()
    out[rng.random(out.shape) < 0.25] = np.nan
    for j, feature in enumerate(MODEL_FEATURES):
        rows = rng.random(len(out)) < 0.05
        out[rows, j] = 17.0 if feature.kind is Kind.CATEGORY else out[rows, j] * 1e3
    return out


def test_champion_tables_equal_xgboost_on_every_applicant(champion, applicants):
    matrix = np.vstack([applicants[0], _perturbed(applicants[0])])
    tables = _tables(champion)
    assert tables is not None, "the depth-3 champion must get tables"
    got, want = tables.contributions(matrix), _xgboost(champion, matrix)
    assert got.shape == want.shape == (len(matrix), len(MODEL_FEATURES) + 1)
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)
    # And they still add up to the margin, row by row.
    margin = champion.inplace_predict(matrix, predict_type="margin")
    np.testing.assert_allclose(got.sum(axis=1), margin, atol=1e-4)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_shallow_models_equal_xgboost(applicants, depth):
    matrix, labels = applicants
    half = len(matrix) // 2
    booster = fit(
        matrix[:half],
        labels[:half],
        matrix[half:],
        labels[half:],
        ModelConfig(max_depth=depth, num_boost_round=40, early_stopping_rounds=40),
    )
    tables = _tables(booster)
    assert tables is not None
    probe = _perturbed(matrix, seed=depth)
    np.testing.assert_allclose(tables.contributions(probe), _xgboost(booster, probe), atol=2e-5, rtol=0)


def test_single_rows_and_chunks_agree(champion, applicants):
    """A row's contributions are the same bits however it is batched: one row and a few rows take
    the dense small-block path, bigger chunks the sparse products (an answer's reasons must not
    depend on what else the predictor scored at the time)."""
    tables = _tables(champion)
    assert tables is not None
    rows = np.vstack([applicants[0][:100], _perturbed(applicants[0][:100], seed=7)])
    whole = tables.contributions(rows, chunk=512)
    for size in (1, 3, 7):
        chunked = np.vstack([tables.contributions(rows[i : i + size]) for i in range(0, len(rows), size)])
        np.testing.assert_array_equal(chunked.view(np.int32), whole.view(np.int32))


def test_deeper_trees_fall_back_to_xgboost(applicants):
    matrix, labels = applicants
    half = len(matrix) // 2
    booster = fit(
        matrix[:half],
        labels[:half],
        matrix[half:],
        labels[half:],
        ModelConfig(max_depth=5, num_boost_round=10, early_stopping_rounds=10),
    )
    assert _tables(booster) is None

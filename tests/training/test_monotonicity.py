"""Monotone constraints hold in the registered model, with derived ratios recomputed.

For applicants from the out-of-time window, one input is moved across a grid while everything
else stays put; the ratios that depend on it are recomputed through the contract's ``derive``
(as Feast's on-demand view would), and the PD must move only in the documented direction.
"""

from __future__ import annotations

import mlflow
import mlflow.xgboost
import numpy as np
import pytest

from credit_scoring.features import derive, to_matrix
from training.dataset import split_out_of_time, training_frame
from training.model import predict_pd

_DERIVE_INPUTS = ("amount", "price", "term", "income", "expenses", "assets", "debt")


@pytest.fixture(scope="module")
def booster(credit_env):
    mlflow.set_tracking_uri(credit_env.tracking_uri)
    return mlflow.xgboost.load_model(f"models:/{credit_env.model_name}@champion")


@pytest.fixture(scope="module")
def applicants(credit_env):
    test = split_out_of_time(training_frame(credit_env.store, credit_env.applications)).test
    return test.sample(n=120, random_state=0).reset_index(drop=True)


def _pd_along(booster, applicants, field: str, grid: np.ndarray) -> np.ndarray:
    """PD matrix [applicant, grid point] with ``field`` set to each grid value."""
    n, k = len(applicants), len(grid)
    columns = {c: np.repeat(applicants[c].to_numpy(), k) for c in applicants.columns}
    columns[field] = np.tile(grid, n).astype(np.float64)
    if field in _DERIVE_INPUTS:
        columns.update(derive({c: columns[c] for c in _DERIVE_INPUTS}))
    return predict_pd(booster, to_matrix(columns, n * k)).reshape(n, k)


@pytest.mark.parametrize(
    ("field", "grid", "direction"),
    [
        ("income", np.linspace(10, 1000, 60), -1),
        ("assets", np.linspace(0, 100_000, 60), -1),
        ("seniority", np.arange(0, 45, 1), -1),
        ("debt", np.linspace(0, 20_000, 60), +1),
        ("amount", np.linspace(100, 5000, 60), +1),
    ],
)
def test_pd_moves_only_in_the_documented_direction(booster, applicants, field, grid, direction):
    pd_ = _pd_along(booster, applicants, field, grid)
    steps = np.diff(pd_, axis=1) * direction
    # float32 rounding of the margin is the only slack allowed.
    assert steps.min() >= -1e-6, f"{field}: PD moved against its constraint by {-steps.min():.2e}"
    # Not vacuous: the feature really changes some predictions.
    assert np.abs(pd_[:, -1] - pd_[:, 0]).max() > 0.01


def test_raising_income_never_raises_pd_even_with_missing_other_fields(booster, applicants):
    thin = applicants.copy()
    thin[["assets", "debt", "home", "job"]] = None
    pd_ = _pd_along(booster, thin, "income", np.linspace(10, 1000, 40))
    assert (np.diff(pd_, axis=1) <= 1e-6).all()

"""Every feature that can be cited as a reason moves the PD only in its documented direction.

On the registered model and 120 out-of-time applicants:

- per model feature: the feature's own column moves across a grid spanning its observed range
  while every other input stays put; the PD may only move the way its constraint says. This is
  the property that makes a directional reason ("Income too low") true of the model;
- per raw input whose derived ratios all move the same way (income, assets, debt, expenses,
  amount, records, seniority): the raw value moves, the ratios are recomputed through the
  contract's ``derive`` (as Feast's on-demand view does), and the PD still obeys the direction.
"""

from __future__ import annotations

import mlflow
import mlflow.xgboost
import numpy as np
import pytest

from credit_scoring.features import MODEL_FEATURES, Kind, derive, feature_names, to_matrix
from training.dataset import Split, split_out_of_time, training_frame
from training.model import predict_pd

_DERIVE_INPUTS = ("amount", "price", "term", "income", "expenses", "assets", "debt")
NUMERIC = [f for f in MODEL_FEATURES if f.kind is not Kind.CATEGORY]


@pytest.fixture(scope="module")
def booster(credit_env):
    mlflow.set_tracking_uri(credit_env.tracking_uri)
    return mlflow.xgboost.load_model(f"models:/{credit_env.model_name}@champion")


@pytest.fixture(scope="module")
def split(credit_env):
    return split_out_of_time(training_frame(credit_env.store, credit_env.applications))


@pytest.fixture(scope="module")
def applicants(split):
    return split.test.sample(n=120, random_state=0).reset_index(drop=True)


def _pd_along(booster, applicants, field: str, grid: np.ndarray) -> np.ndarray:
    """PD matrix [applicant, grid point] with raw ``field`` set to each grid value, ratios re-derived."""
    n, k = len(applicants), len(grid)
    columns = {c: np.repeat(applicants[c].to_numpy(), k) for c in applicants.columns}
    columns[field] = np.tile(grid, n).astype(np.float64)
    if field in _DERIVE_INPUTS:
        columns.update(derive({c: columns[c] for c in _DERIVE_INPUTS}))
    return predict_pd(booster, to_matrix(columns, n * k)).reshape(n, k)


def test_every_numeric_model_feature_is_constrained():
    assert NUMERIC
    assert all(f.monotone in (1, -1) and f.why for f in NUMERIC)


@pytest.mark.parametrize("feature", NUMERIC, ids=lambda f: f.name)
def test_each_feature_alone_moves_pd_only_in_its_direction(booster, split, applicants, feature):
    """The feature's own column on a grid over its range (1st-99th percentile, and beyond)."""
    j = feature_names().index(feature.name)
    observed = Split.matrix(split.train)[:, j]
    observed = observed[np.isfinite(observed)]
    low, high = np.percentile(observed, [0, 100])
    grid = np.unique(np.concatenate([np.linspace(low, high, 40), [low - 1, high * 2 + 1]]))
    base = Split.matrix(applicants)
    block = np.repeat(base, len(grid), axis=0)
    block[:, j] = np.tile(grid, len(base))
    pd_ = predict_pd(booster, block).reshape(len(base), len(grid))
    steps = np.diff(pd_, axis=1) * feature.monotone
    # float32 rounding of the margin is the only slack allowed.
    assert steps.min() >= -1e-6, f"{feature.name}: PD moved against its constraint by {-steps.min():.2e}"


@pytest.mark.parametrize(
    ("field", "grid", "direction"),
    [
        ("income", np.linspace(10, 1000, 60), -1),
        ("assets", np.linspace(0, 100_000, 60), -1),
        ("seniority", np.arange(0, 45, 1), -1),
        ("debt", np.linspace(0, 20_000, 60), +1),
        ("expenses", np.linspace(0, 300, 60), +1),
        ("amount", np.linspace(100, 5000, 60), +1),
        ("records", np.array([0.0, 1.0]), +1),
    ],
)
def test_raw_inputs_with_ratios_recomputed(booster, applicants, field, grid, direction):
    pd_ = _pd_along(booster, applicants, field, grid)
    steps = np.diff(pd_, axis=1) * direction
    assert steps.min() >= -1e-6, f"{field}: PD moved against its constraint by {-steps.min():.2e}"


@pytest.mark.parametrize("field", ["income", "debt", "records", "amount"])
def test_the_strong_inputs_really_move_the_pd(booster, applicants, field):
    """Not vacuous: these inputs change some predictions (seniority may be dropped by the search)."""
    grid = {"income": np.linspace(10, 1000, 20), "debt": np.linspace(0, 20_000, 20)}.get(
        field, np.array([0.0, 1.0]) if field == "records" else np.linspace(100, 5000, 20)
    )
    pd_ = _pd_along(booster, applicants, field, grid)
    assert np.abs(pd_[:, -1] - pd_[:, 0]).max() > 0.01


def test_raising_income_never_raises_pd_even_with_missing_other_fields(booster, applicants):
    thin = applicants.copy()
    thin[["assets", "debt", "home", "job"]] = None
    pd_ = _pd_along(booster, thin, "income", np.linspace(10, 1000, 40))
    assert (np.diff(pd_, axis=1) <= 1e-6).all()


def test_dropped_features_are_never_split_on(credit_env, booster):
    """A feature the search dropped carries no split, so it can never be a reason."""
    winner = credit_env.training.search_table.query("winner").iloc[0]
    dropped = [] if winner["dropped"] == "none" else winner["dropped"].split(",")
    used = set(booster.trees_to_dataframe()["Feature"]) - {"Leaf"}
    assert not used & set(dropped)
    assert "age" not in booster.feature_names

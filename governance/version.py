"""A registered model version, loaded from the MLflow registry and scored the way serving scores it.

The Regulation B age check and the replay of logged decisions both need "what would this version
answer for these inputs": the version's own booster, its own ``feature_names`` (from the MLflow
model metadata, so a version trained on another contract is scored on *its* inputs, not today's),
and its own ``ScorePolicy``. The score comes from the booster's margin exactly as the transformer
computes it (``ScoreScale.score_from_margin``), and categoricals are level codes from the contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.errors import RegistryUnavailable
from credit_scoring.features import CATEGORICAL_LEVELS, encode_categorical
from credit_scoring.policy import POLICY_KEY, ScorePolicy

__all__ = ["VersionScorer", "version_matrix"]


def version_matrix(
    columns: Mapping[str, Sequence[Any] | np.ndarray], names: Sequence[str], n: int
) -> np.ndarray:
    """float32 ``[n, len(names)]`` in ``names`` order; absent columns and None are missing (NaN)."""
    matrix = np.full((n, len(names)), np.nan, dtype=np.float32)
    for j, name in enumerate(names):
        values = columns.get(name)
        if values is None:
            continue
        if name in CATEGORICAL_LEVELS:
            matrix[:, j] = [
                v if isinstance(v, int | float) and not isinstance(v, bool) else encode_categorical(name, v)
                for v in values
            ]
        elif isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
            matrix[:, j] = values.astype(np.float64)
        else:
            matrix[:, j] = [_number(v) for v in values]
    return matrix


def _number(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):  # pandas' NA and the like: missing
        return math.nan


@dataclass(frozen=True)
class VersionScorer:
    name: str
    version: str
    booster: Any
    """The native ``xgboost.Booster`` the predictor would serve."""
    feature_names: list[str]
    policy: ScorePolicy
    run_id: str

    @classmethod
    def load(cls, tracking_uri: str, name: str, version: str) -> VersionScorer:
        import mlflow
        import mlflow.xgboost
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        uri = f"models:/{name}/{version}"
        try:
            mlflow.set_tracking_uri(tracking_uri)
            booster = mlflow.xgboost.load_model(uri)
            metadata = mlflow.models.get_model_info(uri).metadata or {}
            run_id = MlflowClient(tracking_uri=tracking_uri).get_model_version(name, version).run_id
        except (MlflowException, OSError) as exc:
            raise RegistryUnavailable(f"cannot load {uri} from {tracking_uri}: {exc}") from exc
        names = list(metadata.get("feature_names") or booster.feature_names or [])
        if POLICY_KEY not in metadata or not names:
            raise RegistryUnavailable(f"{uri} has no credit_policy or feature_names in its MLflow metadata")
        policy = ScorePolicy.model_validate_json(metadata[POLICY_KEY])
        return cls(name, str(version), booster, names, policy, str(run_id or ""))

    def _dmatrix(self, matrix: np.ndarray) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(
            matrix,
            missing=np.nan,
            feature_names=self.feature_names,
            feature_types=self.booster.feature_types,
            enable_categorical=True,
        )

    def margin(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(self._dmatrix(matrix), output_margin=True), dtype=np.float64)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP per feature (bias last), as XGBoost computes it."""
        return np.asarray(self.booster.predict(self._dmatrix(matrix), pred_contribs=True), dtype=np.float64)

    def scores(self, columns: Mapping[str, Sequence[Any] | np.ndarray], n: int) -> np.ndarray:
        """Scores for named input columns (raw profile, request and derived fields)."""
        matrix = version_matrix(columns, self.feature_names, n)
        return np.asarray(self.policy.scale.score_from_margin(self.margin(matrix)))

"""The MLflow Model Registry side: which version an alias points to, and loading that version.

The model is loaded with the xgboost flavour as the *native* Booster (a pyfunc of a classifier
returns labels, not probabilities). The decision policy travels with the version in the MLmodel
metadata (``credit_policy``); a version without a valid one, or whose booster does not take the
declared features in the declared order, is refused rather than served. The predictor passes the
policy on to its callers with every answer and never applies it itself.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from credit_scoring.errors import RegistryUnavailable
from credit_scoring.features import MODEL_FEATURES, Kind, feature_names
from credit_scoring.policy import POLICY_KEY, ScorePolicy
from predictor.scoring import LoadedModel
from predictor.settings import MODEL_URI_PATTERN

__all__ = ["InvalidModelVersion", "ModelRef", "Registry"]

logger = logging.getLogger(__name__)


class InvalidModelVersion(Exception):
    """The version exists but cannot be served (missing policy, wrong features, not a booster...)."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``models:/`` URI: a registered model and either an alias or a pinned version."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelRef:
        match = MODEL_URI_PATTERN.match(uri)
        if match is None:
            raise ValueError(f"model URI {uri!r} is not models:/<name>@<alias> or models:/<name>/<version>")
        return cls(match["name"], match["alias"], match["version"])

    def __str__(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


class Registry:
    """Resolve and load versions of one registered model through the MLflow client."""

    def __init__(self, ref: ModelRef, threads: int = 1, download_dir: Path | None = None) -> None:
        self.ref = ref
        self._threads = threads
        self._download_dir = download_dir
        self._client: Any = None

    def _mlflow(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient()
        return self._client

    def resolve(self) -> str:
        """The version the reference points to now (the alias target, or the pinned version)."""
        if self.ref.version is not None:
            return self.ref.version
        try:
            version = self._mlflow().get_model_version_by_alias(self.ref.name, self.ref.alias)
        except Exception as exc:  # MlflowException, requests errors: all mean "ask again later"
            raise RegistryUnavailable(f"cannot resolve {self.ref}: {_short(exc)}") from exc
        return str(version.version)

    def load(self, version: str) -> LoadedModel:
        """Download version ``version`` and build a ready-to-score model (raises on any problem)."""
        import mlflow
        import mlflow.xgboost
        from mlflow.models import Model

        started = time.monotonic()
        uri = f"models:/{self.ref.name}/{version}"
        with tempfile.TemporaryDirectory(prefix="credit-model-", dir=self._download_dir) as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            except Exception as exc:
                raise RegistryUnavailable(f"cannot download {uri}: {_short(exc)}") from exc
            try:
                metadata = Model.load(local).metadata or {}
                loaded = mlflow.xgboost.load_model(local)
            except Exception as exc:
                raise InvalidModelVersion(f"{uri}: not a loadable xgboost model: {_short(exc)}") from exc
        booster = loaded.get_booster() if hasattr(loaded, "get_booster") else loaded
        policy = _policy(metadata, uri)
        _check_booster(booster, metadata, uri)
        booster.set_param({"nthread": 1})
        threaded = booster
        if self._threads > 1:
            threaded = booster.copy()
            threaded.set_param({"nthread": self._threads})
        model = LoadedModel(
            name=self.ref.name,
            version=str(version),
            alias=self.ref.alias,
            credit_policy=policy.model_dump_json(),
            booster=booster,
            threaded_booster=threaded,
            threads=self._threads,
        )
        # A smoke prediction: a version that cannot score an all-missing row is not served.
        margin = model.margins(np.full((1, len(MODEL_FEATURES)), np.nan, dtype=np.float32))
        if margin.shape != (1,) or not np.isfinite(margin).all():
            raise InvalidModelVersion(f"{uri}: booster returned {margin!r} for an all-missing row")
        logger.info("loaded %s (%s) in %.2fs", uri, self.ref, time.monotonic() - started)
        return model


def _policy(metadata: dict[str, Any], uri: str) -> ScorePolicy:
    raw = metadata.get(POLICY_KEY)
    if raw is None:
        raise InvalidModelVersion(f"{uri}: MLmodel metadata has no credit_policy")
    try:
        return (
            ScorePolicy.model_validate_json(raw) if isinstance(raw, str) else ScorePolicy.model_validate(raw)
        )
    except ValidationError as exc:
        raise InvalidModelVersion(f"{uri}: credit_policy is invalid: {exc}") from exc


def _check_booster(booster: Any, metadata: dict[str, Any], uri: str) -> None:
    import xgboost as xgb

    if not isinstance(booster, xgb.Booster):
        raise InvalidModelVersion(f"{uri}: xgboost flavour holds {type(booster).__name__}, not a Booster")
    expected = feature_names()
    if booster.num_features() != len(expected):
        raise InvalidModelVersion(
            f"{uri}: booster takes {booster.num_features()} features, the contract has {len(expected)}"
        )
    for where, names in (("booster", booster.feature_names), ("metadata", metadata.get("feature_names"))):
        if names is not None and list(names) != expected:
            raise InvalidModelVersion(f"{uri}: {where} feature_names {list(names)} differ from {expected}")
    types = booster.feature_types
    if types is not None:
        for feature, kind in zip(MODEL_FEATURES, types, strict=True):
            if (kind == "c") != (feature.kind is Kind.CATEGORY):
                raise InvalidModelVersion(f"{uri}: feature {feature.name} has XGBoost type {kind!r}")
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective != "binary:logistic":
        raise InvalidModelVersion(f"{uri}: objective {objective!r} does not give a probability of default")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"

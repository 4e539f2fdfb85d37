"""The batch job's one door into the serving code: load a version, score blocks, decide.

Everything the batch engines take from the predictor (registry loading and its checks, the
booster margins, the exact TreeSHAP look-up tables) and from the transformer (score, decision
and band from the version's policy) goes through this module, so the batch answers are computed
by the same code as the online ones and a change of those packages' names is re-wired here only.
Nothing here imports kserve: ``predictor.registry``/``predictor.scoring`` and
``transformer.answers`` are plain modules.

A ``ModelSpec`` is what crosses process boundaries (worker processes, Spark executors): the
booster's bytes and the version's policy, resolved and checked once by the driver; each process
builds its ``BatchModel`` from it (TreeSHAP tables take ~0.1 s).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from credit_scoring.policy import Decision, ScorePolicy

__all__ = ["ROLES", "BatchModel", "BlockScores", "ModelSpec", "cpu_count", "load_model", "registry_role"]

# The aliases that name a side of the champion-challenger setup, in the order a version that
# both point at is reported (champion first: it is what production serves).
ROLES = ("champion", "challenger")
# What the MLflow REST API answers for an alias that is not set (sqlalchemy_store, file_store).
_NO_ALIAS = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"})


@dataclass(frozen=True)
class ModelSpec:
    """One registry version as plain, picklable data."""

    name: str
    version: str
    alias: str | None
    policy_json: str
    booster: bytes = field(repr=False)
    """The booster in XGBoost's UBJSON format (exact round trip)."""
    role: str | None = None
    """``champion`` or ``challenger`` as online answers say it (``model.role``): the alias the run
    was given, or for a pinned version (or another alias) the one of those aliases that points at
    the version when the run starts; ``None`` when neither does."""

    @property
    def policy(self) -> ScorePolicy:
        return ScorePolicy.model_validate_json(self.policy_json)


def load_model(model_uri: str, tracking_uri: str) -> ModelSpec:
    """Resolve ``models:/name@alias`` or ``models:/name/version`` and load it as the predictor does
    (policy from the MLmodel metadata, feature names/types and objective checked, smoke prediction).

    Raises ``ValueError`` for a malformed URI, ``RegistryUnavailable`` when MLflow cannot be
    reached and ``InvalidModelVersion`` when the version cannot be served.
    """
    import mlflow

    from predictor.registry import ModelRef, Registry

    mlflow.set_tracking_uri(tracking_uri)
    ref = ModelRef.parse(model_uri)
    registry = Registry(ref, threads=1)
    loaded = registry.load(registry.resolve())
    if ref.alias in ROLES:
        role: str | None = ref.alias
    else:
        from mlflow import MlflowClient

        role = registry_role(MlflowClient(), loaded.name, loaded.version)
    return ModelSpec(
        name=loaded.name,
        version=loaded.version,
        alias=loaded.alias,
        policy_json=loaded.credit_policy,
        booster=bytes(loaded.booster.save_raw("ubj")),
        role=role,
    )


def registry_role(client: Any, name: str, version: str) -> str | None:
    """The first of ``ROLES`` whose alias points at ``version`` now, else ``None``.

    Raises ``RegistryUnavailable`` when MLflow fails otherwise than "alias not set".
    """
    from mlflow.exceptions import MlflowException

    from credit_scoring.errors import RegistryUnavailable

    for role in ROLES:
        try:
            target = client.get_model_version_by_alias(name, role)
        except MlflowException as exc:
            if exc.error_code in _NO_ALIAS:
                continue
            raise RegistryUnavailable(f"cannot read alias {name}@{role}: {exc.message}") from exc
        if str(target.version) == version:
            return role
    return None


@dataclass(frozen=True)
class BlockScores:
    """The credit answer of every row of a block, before it is rendered."""

    probability: np.ndarray
    """PD per row (float64), the predictor's sigmoid of its float32 margin."""
    score: np.ndarray
    """Score per row (float64), from the margin as the transformer computes it."""
    decisions: list[Decision]
    bands: list[str]
    adverse: np.ndarray
    """bool per row: refer or decline (these rows, and only these, get reasons)."""
    contributions: np.ndarray
    """Exact TreeSHAP contributions of the adverse rows only, ``[adverse.sum(), features]`` float64
    (bias removed), in row order."""


class BatchModel:
    """A ``ModelSpec`` ready to score in this process, single-threaded (the engines parallelise
    by processes, each on its own core)."""

    def __init__(self, spec: ModelSpec) -> None:
        import xgboost as xgb

        from predictor.scoring import LoadedModel, MicroBatcher

        booster = xgb.Booster()
        booster.load_model(bytearray(spec.booster))
        booster.set_param({"nthread": 1})
        self.spec = spec
        self.policy = spec.policy
        self._model = LoadedModel(
            name=spec.name,
            version=spec.version,
            alias=spec.alias,
            credit_policy=spec.policy_json,
            booster=booster,
            threaded_booster=booster,
            threads=1,
        )
        # The predictor's own scoring call; its executor only ever runs this process's blocks.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch-score")
        self._batcher = MicroBatcher(self._executor)
        self._loop = asyncio.new_event_loop()

    def score(self, matrix: np.ndarray, thin_file: np.ndarray) -> BlockScores:
        """PD, score, decision, band for every row; contributions for the refer/decline rows."""
        from transformer.answers import decide
        from transformer.predictor_client import Prediction

        scores = self._loop.run_until_complete(self._batcher.predict(self._model, matrix))
        prediction = Prediction(
            probability=scores.probability,
            margin=scores.margin,
            contributions=None,
            model_name=self.spec.name,
            model_version=self.spec.version,
            model_alias=self.spec.alias,
            credit_policy=self.spec.policy_json,
        )
        scored = decide(prediction, self.policy, thin_file)
        adverse = scored.needs_reasons()
        rows = np.flatnonzero(adverse)
        contributions = np.empty((0, matrix.shape[1]), dtype=np.float64)
        if rows.size:
            # float32 like the predictor's answer, float64 like the transformer reads it.
            explained = self._model.contributions(np.ascontiguousarray(matrix[rows]))
            contributions = explained[:, :-1].astype(np.float64)
        return BlockScores(
            probability=scores.probability,
            score=scored.score,
            decisions=scored.decisions,
            bands=scored.bands,
            adverse=adverse,
            contributions=contributions,
        )

    def close(self) -> None:
        self._loop.close()
        self._executor.shutdown(wait=False)

    def __getstate__(self) -> Any:
        raise TypeError("BatchModel is per process: send its ModelSpec instead")


def cpu_count() -> int:
    """CPUs this process may use: the container's CPU limit, else the machine's (affinity-aware)."""
    import os

    from predictor.settings import cpu_limit

    limit = cpu_limit()
    if limit is not None:
        return limit
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

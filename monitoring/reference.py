"""The reference population: the sample logged with the served model version's training run.

The version is resolved through the MLflow registry (alias, or a pinned version), so the drift
job always compares today's traffic with the population *that* model was developed on.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from credit_scoring.errors import RegistryUnavailable
from credit_scoring.features import feature_names
from credit_scoring.policy import POLICY_KEY, ScorePolicy

__all__ = ["REFERENCE_ARTIFACT", "ModelVersionRef", "ReferenceSample", "live_versions", "load_reference"]

REFERENCE_ARTIFACT = "reference/reference.parquet"


@dataclass(frozen=True)
class ModelVersionRef:
    name: str
    version: str
    alias: str | None
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)
    """The registry's model-version tags (gate status, fairness exception floor, lineage)."""


@dataclass(frozen=True)
class ReferenceSample:
    model: ModelVersionRef
    frame: pd.DataFrame  # model features (level codes for categoricals), pd, score, decision
    policy: ScorePolicy | None


def _resolve(client: Any, name: str, alias: str, version: str | None) -> tuple[Any, str | None]:
    from mlflow.exceptions import MlflowException

    try:
        if version is not None:
            return client.get_model_version(name, version), None
        return client.get_model_version_by_alias(name, alias), alias
    except MlflowException as exc:
        what = f"{name} version {version}" if version is not None else f"{name}@{alias}"
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RegistryUnavailable(f"model {what} is not in the MLflow registry") from exc
        raise RegistryUnavailable(f"MLflow registry error resolving {what}: {exc.message}") from exc
    except OSError as exc:  # requests' ConnectionError is an OSError
        raise RegistryUnavailable(f"MLflow registry unreachable: {exc}") from exc


def load_reference(client: Any, name: str, alias: str, version: str | None = None) -> ReferenceSample:
    """Resolve the served version and download its run's reference sample."""
    from botocore.exceptions import BotoCoreError, ClientError
    from mlflow.exceptions import MlflowException

    mv, resolved_alias = _resolve(client, name, alias, version)
    run_id = mv.run_id or (mv.tags or {}).get("run_id")
    if not run_id:
        raise RegistryUnavailable(
            f"model {name} version {mv.version} has no training run to take a reference from"
        )
    ref = ModelVersionRef(
        name=name, version=str(mv.version), alias=resolved_alias, run_id=run_id, tags=dict(mv.tags or {})
    )
    try:
        with tempfile.TemporaryDirectory(prefix="credit-drift-ref-") as tmp:
            local = client.download_artifacts(run_id, REFERENCE_ARTIFACT, tmp)
            frame = pd.read_parquet(Path(local))
    except (MlflowException, OSError, BotoCoreError, ClientError) as exc:  # S3 errors are botocore's
        raise RegistryUnavailable(
            f"reference sample {REFERENCE_ARTIFACT} of {name} v{ref.version} (run {run_id}) missing: {exc}"
        ) from exc
    missing = [c for c in (*feature_names(), "score", "decision") if c not in frame.columns]
    if missing:
        raise RegistryUnavailable(f"reference sample of {name} v{ref.version} lacks columns {missing}")
    if frame.empty:
        raise RegistryUnavailable(f"reference sample of {name} v{ref.version} is empty")
    policy_json = (mv.tags or {}).get(POLICY_KEY)
    policy = ScorePolicy.model_validate_json(policy_json) if policy_json else None
    return ReferenceSample(model=ref, frame=frame, policy=policy)


def live_versions(client: Any, name: str) -> set[str]:
    """Versions some alias points to: the ones whose drift gauges are worth keeping."""
    from mlflow.exceptions import MlflowException

    try:
        return {str(v) for v in client.get_registered_model(name).aliases.values()}
    except (MlflowException, OSError) as exc:
        raise RegistryUnavailable(f"MLflow registry error listing aliases of {name}: {exc}") from exc

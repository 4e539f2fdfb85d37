"""Log a trained model to MLflow and register it as ``credit-risk`` with aliases.

What a model version carries (docs/architecture.md, "Model registry"):

- the native booster in the xgboost flavour at ``model``, with signature and input example, and
  MLmodel ``metadata``: ``credit_policy`` (``ScorePolicy`` JSON), ``feature_names``,
  ``feature_service``;
- the same policy as the model-version tag ``credit_policy``;
- run artifacts ``plots/*.png``, ``reports/training_report.html`` and
  ``reference/reference.parquet`` (the drift reference);
- alias ``challenger`` on every new version, and ``champion`` when no version holds it yet.
  Promoting a challenger to champion is a deliberate, separate act (``set_alias``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.features import FEATURE_SERVICE, feature_names
from credit_scoring.policy import ScorePolicy

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "RegisteredModel",
    "aliases_of",
    "log_and_register",
    "set_alias",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
POLICY_TAG = "credit_policy"


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    aliases: list[str]
    run_id: str
    experiment_id: str
    model_uri: str
    artifact_uri: str


def _pip_requirements() -> list[str]:
    # Pinned explicitly: MLflow's own inference of requirements starts a subprocess per model,
    # seconds the training job and the tests don't need to spend.
    from importlib.metadata import version

    return [f"xgboost=={version('xgboost')}", f"numpy=={version('numpy')}", f"pandas=={version('pandas')}"]


def aliases_of(client: Any, name: str, version: str) -> list[str]:
    return sorted(client.get_model_version(name, version).aliases)


def _has_alias(client: Any, name: str, alias: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return False
        raise
    return True


def set_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` (e.g. promote the challenger to champion)."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(name, alias, version)


def log_and_register(
    *,
    tracking_uri: str,
    experiment: str,
    model_name: str,
    booster: Any,
    policy: ScorePolicy,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    example: np.ndarray,
    example_pd: np.ndarray,
    write_artifacts: Callable[[Path], Sequence[Path]],
    run_name: str,
    tags: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RegisteredModel:
    """One MLflow run: params, metrics, artifacts, model; then register, tag and alias it.

    ``write_artifacts(dir)`` writes the run's files into ``dir`` (sub-folders become artifact
    paths: ``plots/``, ``reports/``, ``reference/``).
    """
    import mlflow
    import mlflow.xgboost
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    client = MlflowClient(tracking_uri=tracking_uri)
    policy_json = policy.model_dump_json()
    example_frame = pd.DataFrame(example, columns=feature_names()).astype("float32")
    signature = infer_signature(example_frame, example_pd.astype("float64"))

    with mlflow.start_run(run_name=run_name, tags=dict(tags or {})) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_dict(json.loads(policy_json), "policy/credit_policy.json")
        with tempfile.TemporaryDirectory(prefix="credit-train-") as tmp:
            root = Path(tmp)
            write_artifacts(root)
            for sub in sorted(p for p in root.iterdir() if p.is_dir()):
                mlflow.log_artifacts(str(sub), artifact_path=sub.name)
        if progress is not None:
            progress("model")
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=example_frame.head(5),
            pip_requirements=_pip_requirements(),
            model_format="ubj",
            metadata={
                POLICY_TAG: policy_json,
                "feature_names": feature_names(),
                "feature_service": FEATURE_SERVICE,
            },
        )
        artifact_uri = run.info.artifact_uri

    if progress is not None:
        progress("register")
    version = mlflow.register_model(info.model_uri, model_name, tags={POLICY_TAG: policy_json}).version
    version = str(version)
    client.set_model_version_tag(model_name, version, "feature_service", FEATURE_SERVICE)
    client.set_model_version_tag(model_name, version, "run_id", run.info.run_id)
    if not _has_alias(client, model_name, CHAMPION):
        client.set_registered_model_alias(model_name, CHAMPION, version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return RegisteredModel(
        name=model_name,
        version=version,
        aliases=aliases_of(client, model_name, version),
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        model_uri=f"models:/{model_name}/{version}",
        artifact_uri=artifact_uri,
    )

"""Log a trained model to MLflow, register it as ``credit-risk``, and move aliases as the gate says.

What a model version carries (docs/architecture.md, "Model registry"):

- the native booster in the xgboost flavour at ``model``, with signature and input example, and
  MLmodel ``metadata``: ``credit_policy`` (``ScorePolicy`` JSON), ``feature_names``,
  ``feature_service``;
- the same policy as the model-version tag ``credit_policy``; lineage tags (``code_commit``,
  ``code_dirty``, ``training_data_sha256``) and the gate's decision (``gate_status``, and the
  fairness exception's fields when one was applied);
- run artifacts ``plots/*.png``, ``reports/``, ``reference/reference.parquet`` (the drift
  reference), ``evidence/`` (evidence, search table, gate decision, exception) and
  ``model_card/``; every candidate of the search as a nested run of the training run;
- alias ``challenger`` when the registration gate accepts the version, and ``champion`` too when
  no version holds it yet. Promoting a challenger to champion is a deliberate, separate act.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.features import FEATURE_SERVICE, feature_names
from credit_scoring.policy import POLICY_KEY, ScorePolicy

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ChildRun",
    "RegisteredModel",
    "aliases_of",
    "apply_gate",
    "log_artifacts",
    "log_run",
    "register",
    "set_alias",
]

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    aliases: list[str]
    run_id: str
    experiment_id: str
    model_uri: str
    artifact_uri: str


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    experiment_id: str
    artifact_uri: str
    model_source: str
    """What ``mlflow.register_model`` registers (the logged model's URI)."""


@dataclass(frozen=True)
class ChildRun:
    """A nested run under the training run (one per search candidate)."""

    name: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


def _pip_requirements() -> list[str]:
    # Pinned explicitly: MLflow's own inference of requirements starts a subprocess per model,
    # seconds the training job and the tests don't need to spend.
    from importlib.metadata import version

    return [f"xgboost=={version('xgboost')}", f"numpy=={version('numpy')}", f"pandas=={version('pandas')}"]


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def aliases_of(client: Any, name: str, version: str) -> list[str]:
    return sorted(client.get_model_version(name, version).aliases)


def champion_version(client: Any, name: str) -> str | None:
    """The version ``champion`` points to, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def set_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` (e.g. promote the challenger to champion)."""
    _client(tracking_uri).set_registered_model_alias(name, alias, version)


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def log_run(
    *,
    tracking_uri: str,
    experiment: str,
    booster: Any,
    policy: ScorePolicy,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    example: np.ndarray,
    example_pd: np.ndarray,
    artifacts: Path,
    run_name: str,
    children: Sequence[ChildRun] = (),
    tags: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoggedRun:
    """One MLflow run: params, metrics, the files under ``artifacts`` (sub-folders become artifact
    paths), the model, and ``children`` as nested runs."""
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    client = _client(tracking_uri)
    policy_json = policy.model_dump_json()
    example_frame = pd.DataFrame(example, columns=feature_names()).astype("float32")
    signature = infer_signature(example_frame, example_pd.astype("float64"))

    with mlflow.start_run(run_name=run_name, tags=dict(tags or {})) as run:
        parent = run.info.run_id
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(_finite(metrics))
        mlflow.log_dict(json.loads(policy_json), "policy/credit_policy.json")
        for sub in sorted(p for p in artifacts.iterdir() if p.is_dir()):
            mlflow.log_artifacts(str(sub), artifact_path=sub.name)
        # Nested runs (mlflow.parentRunId): the MLflow UI lists them under the training run.
        # MLflow prints two link lines per finished run; for every candidate that is just noise.
        with contextlib.redirect_stdout(io.StringIO()):
            _log_children(client, experiment_id, parent, int(run.info.start_time or 0), children)
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
                POLICY_KEY: policy_json,
                "feature_names": feature_names(),
                "feature_service": FEATURE_SERVICE,
            },
        )
        return LoggedRun(parent, experiment_id, run.info.artifact_uri, info.model_uri)


def _log_children(
    client: Any, experiment_id: str, parent: str, when: int, children: Sequence[ChildRun]
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    for child in children:
        made = client.create_run(
            experiment_id, run_name=child.name, tags={"mlflow.parentRunId": parent, **child.tags}
        )
        client.log_batch(
            made.info.run_id,
            metrics=[Metric(k, v, when, 0) for k, v in _finite(child.metrics).items()],
            params=[Param(k, str(v)) for k, v in child.params.items()],
            tags=[RunTag("candidate", child.name)],
        )
        client.set_terminated(made.info.run_id, "FINISHED")


def register(
    tracking_uri: str, model_name: str, logged: LoggedRun, policy: ScorePolicy, tags: Mapping[str, str]
) -> RegisteredModel:
    """A new version of ``model_name`` with its tags, and no alias yet (the gate decides)."""
    import mlflow

    client = _client(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    policy_json = policy.model_dump_json()
    version = str(
        mlflow.register_model(logged.model_source, model_name, tags={POLICY_KEY: policy_json}).version
    )
    for key, value in {"feature_service": FEATURE_SERVICE, "run_id": logged.run_id, **tags}.items():
        client.set_model_version_tag(model_name, version, key, value)
    return RegisteredModel(
        name=model_name,
        version=version,
        aliases=[],
        run_id=logged.run_id,
        experiment_id=logged.experiment_id,
        model_uri=f"models:/{model_name}/{version}",
        artifact_uri=logged.artifact_uri,
    )


def log_artifacts(tracking_uri: str, run_id: str, root: Path) -> None:
    """Add the folders under ``root`` to a (finished) run's artifacts."""
    client = _client(tracking_uri)
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        client.log_artifacts(run_id, str(sub), artifact_path=sub.name)


def tag_version(tracking_uri: str, name: str, version: str, tags: Mapping[str, str]) -> None:
    client = _client(tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def apply_gate(tracking_uri: str, registered: RegisteredModel, accepted: bool) -> RegisteredModel:
    """``challenger`` (and ``champion`` when nobody holds it) for an accepted version; nothing else."""
    from dataclasses import replace

    client = _client(tracking_uri)
    name, version = registered.name, registered.version
    if accepted:
        if champion_version(client, name) is None:
            client.set_registered_model_alias(name, CHAMPION, version)
        client.set_registered_model_alias(name, CHALLENGER, version)
    return replace(registered, aliases=aliases_of(client, name, version))

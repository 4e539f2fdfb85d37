"""What every benchmark stage needs: a registered model, its booster file, features in Redis.

``build_environment`` does what ``make demo`` does, into a fresh ``CREDIT_HOME`` under the run
folder: prepare the data, start a real ``redis-server`` on a free port, apply and materialize the
Feast repo into it (the embedded profile with a Redis online store), start the embedded MLflow
on a free port, train and register ``credit-risk`` (alias ``champion``), and copy the
registered version's booster file (``model.ubj``, byte for byte) for the peers. Tests build the
same ``BenchEnv`` from the session's ``credit_env`` instead (``BenchEnv`` is plain data).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import BenchError
from cli.stack.supervisor import LOCALHOST, ProcessGroup, free_port
from credit_scoring.features import derive, to_matrix
from credit_scoring.policy import ScorePolicy
from credit_scoring.schema import Application

if TYPE_CHECKING:
    import pandas as pd

    from training.data import PreparedData

__all__ = ["BenchEnv", "ModelInfo", "Workload", "build_environment", "export_booster", "make_workload"]

log = logging.getLogger(__name__)
MODEL_NAME = "credit-risk"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    trees: int
    max_depth: int
    features: int
    booster_file: Path


@dataclass(frozen=True)
class Workload:
    """Real applications (valid under the shared schema) and the model rows they produce.

    ``rows[i]`` is what the transformer sends the predictor for ``applications[i]``: the
    applicant's newest profile (what the online store holds) plus the application fields and
    the derived ratios, in ``feature_names()`` order.
    """

    applications: list[dict[str, Any]]
    rows: np.ndarray


@dataclass(frozen=True)
class BenchEnv:
    """A registered model, its booster file, and the Feast store the transformer reads."""

    home: Path
    """``CREDIT_HOME`` of the servers (inference log SQLite, spill folder)."""
    tracking_uri: str
    model_uri: str
    model: ModelInfo
    policy: ScorePolicy
    redis_port: int
    feature_repo: Path
    feature_store_config: Path
    workload: Workload
    server_env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for predictor and transformer (MLflow/S3 credentials, placeholders)."""
    inference_log_postgres: str | None = None
    """A PostgreSQL database URL for the inference log; None: the harness starts its own server
    (``bench.postgres``) unless ``CREDIT_BENCH_POSTGRES=false``."""


def export_booster(tracking_uri: str, model_name: str, version: str, out_dir: Path) -> ModelInfo:
    """Copy the registered version's booster file (the bytes the predictor loads) for the peers."""
    import mlflow
    import xgboost as xgb

    out_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}/{version}", dst_path=str(out_dir / "download")
        )
    )
    candidates = sorted(p for p in local.rglob("*") if p.suffix in {".ubj", ".json", ".xgb"} and p.is_file())
    candidates = [p for p in candidates if p.name.startswith("model")]
    if not candidates:
        raise BenchError(f"no booster file in the artifacts of {model_name}/{version} ({local})")
    source = candidates[0]
    # MLServer's runtime finds model.bst|json|ubj; the suffix says the format, the bytes are kept.
    target = out_dir / f"model{source.suffix if source.suffix != '.xgb' else '.bst'}"
    shutil.copyfile(source, target)
    shutil.rmtree(out_dir / "download", ignore_errors=True)
    booster = xgb.Booster(model_file=str(target))
    model = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"]
    depth = max((_depth(tree["left_children"], tree["right_children"]) for tree in model["trees"]), default=0)
    return ModelInfo(
        name=model_name,
        version=str(version),
        trees=booster.num_boosted_rounds(),
        max_depth=depth,
        features=booster.num_features(),
        booster_file=target,
    )


def _depth(left: list[int], right: list[int]) -> int:
    """Depth of one tree of XGBoost's JSON model (root = 0, -1 = no child)."""
    deepest, todo = 0, [(0, 0)]
    while todo:
        node, d = todo.pop()
        deepest = max(deepest, d)
        todo.extend((child, d + 1) for child in (left[node], right[node]) if child != -1)
    return deepest


def make_workload(profile: pd.DataFrame, applications: pd.DataFrame, size: int, seed: int = 7) -> Workload:
    """``size`` real applications (fixed seed) and their model rows."""
    latest = (
        profile.sort_values(["applicant_id", "event_timestamp", "created_timestamp"])
        .groupby("applicant_id")
        .tail(1)
        .set_index("applicant_id")
    )
    apps = applications.sample(frac=1.0, random_state=seed)
    chosen: list[dict[str, Any]] = []
    for rec in apps[["applicant_id", "amount", "price", "term"]].itertuples(index=False):
        raw = {
            "applicant_id": str(rec.applicant_id),
            "amount": float(rec.amount),
            "price": float(rec.price),
            "term": int(rec.term),
        }
        try:
            Application.model_validate(raw)  # the shared contract decides what is a valid request
        except ValueError:
            continue
        chosen.append(raw)
        if len(chosen) == size:
            break
    if not chosen:
        raise BenchError("no valid application in the prepared data")
    ids = [a["applicant_id"] for a in chosen]
    prof = latest.reindex(ids)
    columns: dict[str, Any] = {}
    for name in prof.columns:
        values = prof[name].tolist()
        columns[name] = [None if _missing(v) else v for v in values]
    for name in ("amount", "price", "term"):
        columns[name] = np.array([a[name] for a in chosen], dtype=np.float64)
    numeric = {
        k: np.array([np.nan if v is None else v for v in columns[k]], dtype=np.float64)
        for k in ("income", "expenses", "assets", "debt")
    }
    columns.update(derive({**columns, **numeric}))
    return Workload(chosen, to_matrix(columns, len(chosen)))


def _missing(value: Any) -> bool:
    try:
        return bool(value is None or value != value)  # NaN and pandas NA
    except TypeError:
        return True


def build_environment(
    run_dir: Path, procs: ProcessGroup, *, workload_size: int, progress: Progress
) -> BenchEnv:
    """Data, Redis + Feast, embedded MLflow, a trained and registered model, its booster file."""
    from cli.mlflow_local import LocalMlflow
    from cli.stack.components import MLFLOW_SERVER_ENV, redis_command
    from cli.stack.supervisor import http_ready, port_listening
    from feature_store import EMBEDDED_CONFIG, default_repo_path, open_store, redis_profile
    from governance.exception import DEMO_EXCEPTION, load_exception
    from training.data import prepare
    from training.feature_repo import apply, materialize
    from training.pipeline import train_and_register

    home = (run_dir / "home").resolve()
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    progress("data: preparing the credit tables")
    prepared: PreparedData = prepare(home / "data")

    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise BenchError("redis-server is not on PATH (apt-get install redis-server, or `make system-deps`)")
    redis_port = free_port()
    progress(f"redis-server on {LOCALHOST}:{redis_port}")
    procs.start(
        "redis",
        redis_command(redis_port, home, binary=redis_bin),
        port=redis_port,
        ready=port_listening(redis_port),
    )
    repo = default_repo_path()
    profile_file = redis_profile(repo / EMBEDDED_CONFIG, home / "feast", f"{LOCALHOST}:{redis_port}")
    env = {**os.environ, "CREDIT_HOME": str(home)}
    store = open_store(profile_file, repo, env)
    progress("features: feast apply + materialize into Redis")
    apply(store, prepared.data_dir)
    materialize(store)

    mlflow_server = LocalMlflow(home, port=free_port())
    progress(f"MLflow (embedded) on {mlflow_server.url}")
    # Started in the run's process group so it is stopped with everything else and its RSS is not measured.
    procs.start(
        "mlflow",
        mlflow_server.command(),
        port=mlflow_server.port,
        env=MLFLOW_SERVER_ENV,
        unset=("MLFLOW_TRACKING_URI",),
        ready=http_ready(f"{mlflow_server.url}/health"),
    )
    progress("training: credit-risk on point-in-time features, registered with alias champion")
    # The model `make demo` ships: the full alternative search, registered under the demo's
    # fairness exception (no candidate reaches the four-fifths rule on this data).
    result = train_and_register(
        store,
        prepared.applications,
        tracking_uri=mlflow_server.url,
        model_name=MODEL_NAME,
        exception=load_exception(DEMO_EXCEPTION),
    )
    model = export_booster(mlflow_server.url, MODEL_NAME, result.version, run_dir / "model")
    progress(
        f"model: version {model.version}, {model.trees} trees of depth <= {model.max_depth}, "
        f"{model.features} features -> {model.booster_file}"
    )
    return BenchEnv(
        home=home,
        tracking_uri=mlflow_server.url,
        model_uri=f"models:/{MODEL_NAME}@champion",
        model=model,
        policy=result.policy,
        redis_port=redis_port,
        feature_repo=repo,
        feature_store_config=profile_file,
        workload=make_workload(prepared.profile, prepared.applications, workload_size),
        server_env={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )

"""MLServer 1.7.1's XGBoost runtime as a peer, in its own virtualenv, in several configurations.

MLServer pins an older FastAPI/Starlette than kserve 0.21 and feast 0.67 need, so it lives in
``bench/.venv-mlserver`` (``make bench`` builds it from ``bench/requirements-mlserver.txt``; it
also needs ``uvloop==0.21.0`` to load models). Each configuration gets its own folder with a
``settings.json`` and a model folder whose ``model-settings.json`` points at the same booster
file the other servers load.

Output: mlserver-xgboost loads a booster file without scikit-learn metadata (the MLflow
registry's native booster) as an ``XGBRegressor``, whose ``predict`` already is the probability
of default and which refuses ``predict_proba``; a classifier file's ``predict`` would be class
labels. The harness asks for ``predict_proba`` and, when the runtime refuses it, for ``predict``,
and checks either way that the values equal the booster's PD before measuring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CONFIGS", "MlserverConfig", "layout"]


@dataclass(frozen=True)
class MlserverConfig:
    name: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    """``settings.json`` entries on top of host and ports."""
    model: dict[str, Any] = field(default_factory=dict)
    """``model-settings.json`` entries on top of name, implementation and uri."""
    env: dict[str, str] = field(default_factory=dict)


# Lean = what a tuned deployment turns off: debug logging, the metrics server, gzip middleware.
_LEAN: dict[str, Any] = {"debug": False, "metrics_endpoint": None, "gzip_enabled": False}
_ONE_THREAD = {"OMP_NUM_THREADS": "1"}

CONFIGS: dict[str, MlserverConfig] = {
    c.name: c
    for c in (
        MlserverConfig(
            "default", "MLServer defaults (parallel_workers=1, debug, metrics, gzip), OMP default"
        ),
        MlserverConfig(
            "pw0-omp1",
            "parallel_workers=0 (inference on the event loop), OMP_NUM_THREADS=1, lean",
            {**_LEAN, "parallel_workers": 0},
            env=_ONE_THREAD,
        ),
        MlserverConfig(
            "pw1-omp1",
            "parallel_workers=1, OMP_NUM_THREADS=1, lean",
            {**_LEAN, "parallel_workers": 1},
            env=_ONE_THREAD,
        ),
        MlserverConfig(
            "pw2-omp1",
            "parallel_workers=2 (one per core), OMP_NUM_THREADS=1, lean",
            {**_LEAN, "parallel_workers": 2},
            env=_ONE_THREAD,
        ),
        MlserverConfig(
            "pw0-omp1-batch",
            "parallel_workers=0, adaptive batching (max_batch_size=32, max_batch_time=2 ms), "
            "OMP_NUM_THREADS=1, lean",
            {**_LEAN, "parallel_workers": 0},
            {"max_batch_size": 32, "max_batch_time": 0.002},
            env=_ONE_THREAD,
        ),
        MlserverConfig(
            "pw0-ompdefault",
            "parallel_workers=0, XGBoost's default thread count, lean",
            {**_LEAN, "parallel_workers": 0},
        ),
    )
}


def layout(
    root: Path,
    config: MlserverConfig,
    model_name: str,
    booster_file: Path,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
) -> Path:
    """Write the configuration's folder; return it (``mlserver start <folder>``)."""
    folder = root / config.name
    model_dir = folder / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        **config.settings,
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    model = {
        "name": model_name,
        "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": str(booster_file.resolve())},
        **config.model,
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model, indent=2))
    return folder

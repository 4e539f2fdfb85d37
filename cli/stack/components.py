"""How each part of the platform is started: the one place its command line is built.

The predictor and the transformer get exactly the containers' commands (the chart's
``python -m predictor --model_name credit-risk ...`` and ``python -m transformer
--predictor_host HOST:PORT --predictor_protocol v2 ...``), with ports chosen by the caller; MLflow
and Redis get the options the local stack and the tests run them with (loopback only, no
persistence for Redis, no proxied artifacts for MLflow). The local stack, the embedded MLflow,
the benchmark and the test fixtures all build their command lines here.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from cli.stack.supervisor import LOCALHOST

__all__ = [
    "MLFLOW_SERVER_ENV",
    "PREDICTOR_MODEL",
    "TRANSFORMER_MODEL",
    "mlflow_server_command",
    "model_ready_path",
    "predictor_command",
    "redis_command",
    "transformer_command",
]

PREDICTOR_MODEL = "credit-risk"
"""KServe model name of the predictor (``--model_name``)."""
TRANSFORMER_MODEL = "credit-scoring"
"""KServe model name of the transformer, the public endpoint."""

# MLflow 3's server also starts a pool of background job runners (for GenAI features this
# platform does not use): about ten extra processes competing for the CPU.
MLFLOW_SERVER_ENV: Mapping[str, str] = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def model_ready_path(model: str) -> str:
    """The v2 readiness route of a KServe model (what the chart's readiness probe asks)."""
    return f"/v2/models/{model}/ready"


def predictor_command(http_port: int, grpc_port: int, *extra: str, python: str = sys.executable) -> list[str]:
    """``python -m predictor`` as its container runs it; ``extra`` flags go last."""
    return [
        python,
        "-m",
        "predictor",
        "--model_name",
        PREDICTOR_MODEL,
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(grpc_port),
        *extra,
    ]


def transformer_command(
    predictor_host: str,
    http_port: int,
    grpc_port: int,
    *extra: str,
    protocol: str = "v2",
    python: str = sys.executable,
) -> list[str]:
    """``python -m transformer`` as its container runs it, calling the predictor at
    ``predictor_host`` (``host:port``; its gRPC port for ``protocol="grpc-v2"``)."""
    return [
        python,
        "-m",
        "transformer",
        "--predictor_host",
        predictor_host,
        "--predictor_protocol",
        protocol,
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(grpc_port),
        *extra,
    ]


def mlflow_server_command(
    backend_store_uri: str,
    artifact_root: str,
    port: int,
    host: str = LOCALHOST,
    python: str = sys.executable,
) -> list[str]:
    """``mlflow server`` with a SQL backend; ``--no-serve-artifacts``: clients read and write the
    artifact store themselves (a folder here, S3/MinIO in production), never through the server."""
    return [
        python,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--default-artifact-root",
        artifact_root,
        "--no-serve-artifacts",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def redis_command(
    port: int,
    data_dir: Path,
    *,
    password: str | None = None,
    binary: str | None = None,
    host: str = LOCALHOST,
) -> list[str]:
    """``redis-server`` on ``host:port`` with nothing persisted (the online store is rebuilt by
    ``materialize``); ``password``: ``--requirepass``, as the production Redis has."""
    argv = [
        binary or shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        host,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
        "--protected-mode",
        "yes",
    ]
    if password is not None:
        argv += ["--requirepass", password]
    return argv

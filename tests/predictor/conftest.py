"""Predictor fixtures: models registered in the session MLflow, predictors started as containers do.

Every predictor under test is a subprocess started with the container's command line
(``python -m predictor --model_name credit-risk --http_port P --grpc_port Q``) and its
environment (MLflow/S3 variables, ``CREDIT_MODEL_URI``, ``CREDIT_BIND_ADDRESS=127.0.0.1``).
The protocol tests serve the session's ``credit-risk@champion`` (``credit_env``) read-only; the
lifecycle tests register their own model names (``predictor-reload-...``) so that moving aliases
here never disturbs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.stack.components import MLFLOW_SERVER_ENV, mlflow_server_command, predictor_command
from tests.conftest import MlflowServer, PostgresServer
from tests.predictor.registry_helpers import Registered
from tests.servers import (
    KServeEndpoints,
    Process,
    free_port,
    start_process,
    wait_for,
    wait_http,
)

KSERVE_NAME = "credit-risk"


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Predictor(KServeEndpoints):
    """A running ``python -m predictor`` subprocess."""

    process: Process
    http_port: int
    grpc_port: int
    model_uri: str
    name: str = KSERVE_NAME

    def is_ready(self) -> bool:
        return httpx.get(f"{self.url}/v2/models/{self.name}/ready", timeout=2).status_code == 200

    def wait_ready(self, timeout: float = 120) -> None:
        wait_for(self.process, self.is_ready, timeout, what="ready")

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, frozenset(labels.items())))


@dataclass
class PredictorLauncher:
    mlflow: MlflowServer
    log_dir: Path
    started: list[Predictor] = field(default_factory=list)

    def env(self, model_uri: str, tracking_uri: str | None = None, **settings: str) -> dict[str, str]:
        env = {
            **self.mlflow.env(),
            "CREDIT_MODEL_URI": model_uri,
            "CREDIT_BIND_ADDRESS": "127.0.0.1",
            **{f"CREDIT_{k.upper()}": v for k, v in settings.items()},
        }
        if tracking_uri is not None:
            env["MLFLOW_TRACKING_URI"] = tracking_uri
        return env

    def start(
        self,
        model_uri: str,
        *,
        wait: bool = True,
        tracking_uri: str | None = None,
        extra_args: tuple[str, ...] = (),
        **settings: str,
    ) -> Predictor:
        http_port, grpc_port = free_port(), free_port()
        argv = predictor_command(http_port, grpc_port, *extra_args)
        proc = start_process(
            f"predictor-{http_port}", argv, self.log_dir, env=self.env(model_uri, tracking_uri, **settings)
        )
        predictor = Predictor(proc, http_port, grpc_port, model_uri)
        self.started.append(predictor)
        if wait:
            predictor.wait_ready()
        return predictor

    def stop_all(self) -> None:
        for p in self.started:
            p.stop()


@pytest.fixture(scope="session")
def mlflow_client_env(mlflow_server: MlflowServer) -> Iterator[MlflowServer]:
    """This process talks to the session MLflow and its S3 (boto3 reads the environment)."""
    with _environ(mlflow_server.env()):
        yield mlflow_server


@pytest.fixture(scope="session")
def served_model(credit_env: Any, mlflow_client_env: MlflowServer) -> Registered:
    """The session's trained model (``credit_env``): ``credit-risk@champion``, used read-only here."""
    import mlflow.xgboost

    booster = mlflow.xgboost.load_model(f"models:/{credit_env.model_name}/{credit_env.model_version}")
    return Registered(credit_env.model_name, credit_env.model_version, booster, credit_env.policy)


@pytest.fixture(scope="session")
def predictor(
    mlflow_client_env: MlflowServer, served_model: Registered, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Predictor]:
    """One predictor serving ``served_model@champion``, shared by the protocol tests (read-only use)."""
    launcher = PredictorLauncher(mlflow_client_env, tmp_path_factory.mktemp("predictor"))
    yield launcher.start(f"models:/{served_model.name}@champion")
    launcher.stop_all()


@pytest.fixture
def launch(mlflow_client_env: MlflowServer, tmp_path: Path) -> Iterator[PredictorLauncher]:
    launcher = PredictorLauncher(mlflow_client_env, tmp_path / "predictors")
    yield launcher
    launcher.stop_all()


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
    """Seconds it took for ``check()`` to hold; fails after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def start_mlflow_on(port: int, postgres: PostgresServer, mlflow: MlflowServer, log_dir: Path) -> Process:
    """A second ``mlflow server`` on ``port`` over the session's registry database and S3 bucket.

    Used to make MLflow "come up" at an address a predictor has been retrying.
    """
    proc = start_process(
        f"mlflow-late-{port}",
        mlflow_server_command(postgres.url("mlflow"), mlflow.artifact_root, port),
        log_dir,
        env={**mlflow.s3.env(), **MLFLOW_SERVER_ENV},
    )
    wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=240)
    return proc

"""Transformer fixtures: the real predictor and transformer processes, started as containers do.

Every process is started with its container command line (``python -m predictor ...``,
``python -m transformer --predictor_host HOST:PORT --predictor_protocol v2 ...``) and the
environment the chart gives it (MLflow/S3, the Feast production profile with its placeholders,
``CREDIT_BIND_ADDRESS=127.0.0.1``), on free loopback ports, against the session's real Redis,
PostgreSQL (Feast registry) and MLflow server from ``credit_env``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import orjson
import pytest

from cli.stack.components import predictor_command, transformer_command
from tests.credit_env import CreditEnv
from tests.servers import KServeEndpoints, Process, free_port, start_process, wait_for
from transformer.auth import hash_key

if TYPE_CHECKING:
    from kserve import InferInput

V1 = "/v1/models/credit-scoring:predict"


def v1_body(credit_env: CreditEnv) -> dict[str, Any]:
    """A v1 body of one application of the session data set (the first by applicant id)."""
    app = credit_env.applications.sort_values("applicant_id").iloc[0]
    return {
        "instances": [
            {
                "applicant_id": app.applicant_id,
                "amount": float(app.amount),
                "price": float(app.price),
                "term": 24,
            }
        ]
    }


def applications_input(apps: list[dict[str, Any]]) -> list[InferInput]:
    """The gRPC ``applications`` tensor: one JSON document per application (BYTES)."""
    from kserve import InferInput

    inputs = [InferInput("applications", [len(apps)], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([orjson.dumps(a) for a in apps], dtype=np.object_))
    return inputs


@dataclass
class Server(KServeEndpoints):
    """A running KServe server process (predictor or transformer)."""

    process: Process
    http_port: int
    grpc_port: int
    model: str
    api_key: str | None = None
    """The key a transformer was started with (None: a predictor, or a transformer without auth)."""

    @property
    def auth(self) -> dict[str, str]:
        """Headers (or gRPC metadata) that authenticate a request to this server."""
        return {"x-api-key": self.api_key} if self.api_key else {}

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/v2/models/{self.model}/ready", timeout=2).status_code == 200

    def wait_ready(self, timeout: float = 180) -> Server:
        wait_for(self.process, self.ready, timeout, what=f"{self.model} ready")
        return self

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, frozenset(labels.items())), 0.0)


@dataclass
class Launcher:
    """Starts predictors and transformers for one test (or module) and stops them afterwards."""

    env: CreditEnv
    workdir: Path
    started: list[Server] = field(default_factory=list)

    def predictor(
        self,
        *,
        model_uri: str | None = None,
        wait: bool = True,
        http_port: int | None = None,
        **settings: str,
    ) -> Server:
        http_port, grpc_port = http_port or free_port(), free_port()
        env = {
            **self.env.mlflow.env(),
            "CREDIT_MODEL_URI": model_uri or self.env.model_uri,
            "CREDIT_BIND_ADDRESS": "127.0.0.1",
            **{f"CREDIT_{k.upper()}": v for k, v in settings.items()},
        }
        argv = predictor_command(http_port, grpc_port)
        server = Server(
            start_process(f"predictor-{http_port}", argv, self.workdir, env=env),
            http_port,
            grpc_port,
            "credit-risk",
        )
        self.started.append(server)
        return server.wait_ready() if wait else server

    def transformer(
        self,
        predictor: Server | str,
        *,
        protocol: str = "v2",
        wait: bool = True,
        feast_env: dict[str, str] | None = None,
        **settings: Any,
    ) -> Server:
        """``predictor`` is a running one, or a ``host:port`` (e.g. where nothing listens).

        Authentication is on, as in production: a fresh key per transformer, its hash in
        ``CREDIT_HOME/api-keys``; send ``server.auth`` with each request."""
        if isinstance(predictor, Server):
            host = predictor.grpc_target if protocol == "grpc-v2" else f"127.0.0.1:{predictor.http_port}"
        else:
            host = predictor
        http_port, grpc_port = free_port(), free_port()
        home = self.workdir / f"transformer-{http_port}"
        home.mkdir(parents=True, exist_ok=True)
        # The per-client rate limit is proven in tests/transformer/test_auth_http.py; the load
        # tests here measure other things and must not be cut by it.
        settings.setdefault("rate_limit_per_second", 0)
        api_key = secrets.token_urlsafe(32)
        (home / "api-keys").write_text(f"tests:{hash_key(api_key)}\n")
        env = {
            **self.env.env(),
            **(feast_env or {}),
            "CREDIT_BIND_ADDRESS": "127.0.0.1",
            "CREDIT_HOME": str(home),
            "CREDIT_INFERENCE_LOG_URL": f"sqlite:///{home / 'inference_log.db'}",
            "CREDIT_API_KEYS_PATH": str(home / "api-keys"),
            **{f"CREDIT_{k.upper()}": str(v) for k, v in settings.items()},
        }
        argv = transformer_command(host, http_port, grpc_port, protocol=protocol)
        server = Server(
            start_process(f"transformer-{http_port}", argv, self.workdir, env=env),
            http_port,
            grpc_port,
            "credit-scoring",
            None if str(settings.get("auth")) == "off" else api_key,
        )
        self.started.append(server)
        return server.wait_ready() if wait else server

    def stop_all(self) -> None:
        for server in reversed(self.started):
            server.stop()


@pytest.fixture(scope="session")
def stack_launcher(credit_env: CreditEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(credit_env, tmp_path_factory.mktemp("serving"))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def predictor(stack_launcher: Launcher) -> Server:
    """The session predictor serving ``credit-risk@champion``."""
    return stack_launcher.predictor()


@pytest.fixture(scope="session")
def transformer(stack_launcher: Launcher, predictor: Server) -> Server:
    """The session transformer: REST v2 to the session predictor, features from the session Redis."""
    return stack_launcher.transformer(predictor)


@pytest.fixture
def launcher(credit_env: CreditEnv, tmp_path: Path) -> Iterator[Launcher]:
    """Private servers for tests that stop things (outages) or need other settings."""
    own = Launcher(credit_env, tmp_path)
    yield own
    own.stop_all()

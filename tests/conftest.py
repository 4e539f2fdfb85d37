"""Session fixtures: real Redis, PostgreSQL, S3 (moto), MLflow, Prometheus and Pushgateway.

Each starts from the binary on PATH on a free 127.0.0.1 port. Nothing here skips: a missing
binary fails loudly with the command that installs it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.stack.components import MLFLOW_SERVER_ENV, mlflow_server_command, redis_command
from cli.stack.postgres import accepts_queries, init_cluster, server_account, server_argv
from tests.servers import (
    Process,
    free_port,
    require_binary,
    start_process,
    wait_for,
    wait_http,
    wait_port,
)

S3_KEY = "testing"
S3_SECRET = "testing"  # moto accepts any credentials
S3_BUCKET = "mlflow"


# --------------------------------------------------------------------------- Redis
@dataclass
class RedisServer:
    process: Process
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def connection_string(self) -> str:
        """Feast's redis online store format."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        """(Re)start on the same port, e.g. after an outage test stopped it."""
        self.process = _start_redis(self.port, self.data_dir)


def _start_redis(port: int, data_dir: Path) -> Process:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = start_process(
        f"redis-{port}", redis_command(port, data_dir, binary=require_binary("redis-server")), data_dir
    )
    wait_port(proc, port, timeout=30)
    return proc


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("redis")
    server = RedisServer(_start_redis(port, data_dir), port, data_dir)
    yield server
    server.stop()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[[], RedisServer]]:
    """A private Redis per call, for tests that stop and restart it."""
    started: list[RedisServer] = []

    def make() -> RedisServer:
        port = free_port()
        server = RedisServer(_start_redis(port, tmp_path / f"redis-{port}"), port, tmp_path / f"redis-{port}")
        started.append(server)
        return server

    yield make
    for s in started:
        s.stop()


# --------------------------------------------------------------------------- PostgreSQL
@dataclass
class PostgresServer:
    process: Process
    port: int
    base: Path  # holds data/ and sock/
    user: str = "postgres"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"

    def create_database(self, name: str | None = None) -> str:
        import psycopg

        name = name or f"db_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def accepts_queries(self) -> bool:
        return accepts_queries(self.port)

    def stop(self) -> None:
        self.process.stop()

    def restart(self, log_dir: Path) -> None:
        """Start a stopped server again on the same port and data (outage tests)."""
        self.process = _launch_postgres(self.base, self.port, log_dir)
        # An open port is not enough: until recovery ends, queries fail with "starting up".
        wait_for(self.process, self.accepts_queries, timeout=60, what="accepting queries")


def start_postgres(log_dir: Path) -> PostgresServer:
    base = init_cluster(prefix="credit-pg-")
    port = free_port()
    server = PostgresServer(_launch_postgres(base, port, log_dir), port, base)
    wait_for(server.process, server.accepts_queries, timeout=60, what="accepting queries")
    return server


def _launch_postgres(base: Path, port: int, log_dir: Path) -> Process:
    account = server_account()
    # Durability is not under test here (the outage tests stop the server cleanly); many clients are.
    argv = server_argv(base, port, {"fsync": "off", "max_connections": "200"})
    proc = start_process(
        f"postgres-{port}",
        argv,
        log_dir,
        user=account[0] if account else None,
        group=account[2] if account else None,
    )
    wait_port(proc, port, timeout=60)
    return proc


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_postgres(tmp_path_factory.mktemp("postgres-logs"))
    yield server
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, then a database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())


# --------------------------------------------------------------------------- S3 (moto)
@dataclass
class S3Server:
    process: Process
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):  # type: ignore[no-untyped-def]  # boto3 clients are untyped
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    proc = start_process(
        f"moto-{port}",
        [require_binary("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        tmp_path_factory.mktemp("moto"),
    )
    wait_http(proc, f"http://127.0.0.1:{port}/moto-api/", timeout=60)
    server = S3Server(proc, port)
    server.client().create_bucket(Bucket=S3_BUCKET)
    yield server
    proc.stop()


# --------------------------------------------------------------------------- MLflow
@dataclass
class MlflowServer:
    process: Process
    port: int
    artifact_root: str
    s3: S3Server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client (training job, predictor) needs: tracking URI plus its own S3 access."""
        return {"MLFLOW_TRACKING_URI": self.url, **self.s3.env()}


@pytest.fixture(scope="session")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer, s3_server: S3Server
) -> Iterator[MlflowServer]:
    """``mlflow server`` on PostgreSQL with S3 artifacts; clients read artifacts from S3 directly."""
    database = postgres_server.create_database("mlflow")
    port = free_port()
    artifact_root = f"s3://{S3_BUCKET}/artifacts"
    proc = start_process(
        f"mlflow-{port}",
        mlflow_server_command(postgres_server.url(database), artifact_root, port),
        tmp_path_factory.mktemp("mlflow"),
        env={**s3_server.env(), **MLFLOW_SERVER_ENV},
    )
    wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=180)
    yield MlflowServer(proc, port, artifact_root, s3_server)
    proc.stop()


# --------------------------------------------------------------------------- Prometheus
@dataclass
class PrometheusServer:
    process: Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("pushgateway")
    proc = start_process(
        f"pushgateway-{port}",
        [
            require_binary("prometheus-pushgateway"),
            f"--web.listen-address=127.0.0.1:{port}",
            # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: every
            # pushgateway on the machine would load the groups earlier sessions pushed.
            f"--persistence.file={workdir / 'pushgateway.data'}",
        ],
        workdir,
    )
    wait_http(proc, f"http://127.0.0.1:{port}/-/ready", timeout=30)
    yield PrometheusServer(proc, port)
    proc.stop()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[[str], PrometheusServer]]:
    """Start a Prometheus with the given YAML config text (rule files may be absolute paths)."""
    started: list[Process] = []

    def make(config_yaml: str) -> PrometheusServer:
        port = free_port()
        workdir = tmp_path / f"prometheus-{port}"
        workdir.mkdir()
        config = workdir / "prometheus.yml"
        config.write_text(config_yaml)
        proc = start_process(
            f"prometheus-{port}",
            [
                require_binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            workdir,
        )
        started.append(proc)
        wait_http(proc, f"http://127.0.0.1:{port}/-/ready", timeout=60)
        return PrometheusServer(proc, port)

    yield make
    for p in started:
        p.stop()


# --------------------------------------------------------------------------- Foundation
@pytest.fixture(scope="session")
def credit_env(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    postgres_server: PostgresServer,
    mlflow_server: MlflowServer,
):
    """Data prepared, Feast applied + materialized into Redis, `credit-risk` v1 registered
    (champion + challenger) in the session MLflow. See tests/credit_env.py for the attributes."""
    from tests.credit_env import build_credit_env, session_env

    # boto3 (MLflow's S3 client) reads its endpoint and credentials from the environment.
    with session_env(mlflow_server.s3.env()):
        yield build_credit_env(
            tmp_path_factory.mktemp("credit-env"), redis_server, postgres_server, mlflow_server
        )

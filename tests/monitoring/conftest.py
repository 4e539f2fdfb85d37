"""Fixtures of the monitoring tests: a PostgreSQL that can be stopped and restarted, records."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credit_scoring.policy import ScorePolicy
from inference_log import (
    ApplicantHasher,
    InferenceLogWriter,
    InferenceRecord,
)
from tests.conftest import PostgresServer, start_postgres
from tests.inference_log.records import hasher, make_records  # noqa: F401  (fixtures of these tests)
from tests.monitoring.population import applications_at_time, traffic_records

ROOT = Path(__file__).resolve().parents[2]
DRIFT_HASH_KEY = b"drift-test-hash-key-0123"


def restart_postgres(server: PostgresServer, log_dir: Path) -> None:
    """Start a stopped server again on the same port and data directory."""
    server.restart(log_dir)


def wait_accepting_queries(server: PostgresServer, timeout: float = 60.0) -> None:
    """The port opens before recovery ends ("the database system is starting up"): wait for a query."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, which the test may stop and restart."""
    import shutil

    server = start_postgres(tmp_path / "pg-logs")
    wait_accepting_queries(server)
    yield server
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


# --------------------------------------------------------------------------- drift job
@dataclass
class DriftEnv:
    """The session's registered model (``credit_env``), its booster, and the population."""

    credit_env: Any
    booster: Any
    population: pd.DataFrame
    hasher: ApplicantHasher

    @property
    def model_name(self) -> str:
        return str(self.credit_env.model_name)

    @property
    def model_version(self) -> str:
        return str(self.credit_env.model_version)

    @property
    def policy(self) -> ScorePolicy:
        return self.credit_env.policy  # type: ignore[no-any-return]

    def records(
        self,
        raw: pd.DataFrame,
        n: int,
        *,
        hours_ago: tuple[float, float] = (20.0, 0.0),
        seed: int = 0,
        **kwargs: Any,
    ) -> list[InferenceRecord]:
        """``n`` scored applications from ``raw``, logged between ``hours_ago[0]`` and ``[1]`` hours ago."""
        now = datetime.now(UTC)
        kwargs.setdefault("model_name", self.model_name)
        kwargs.setdefault("model_version", self.model_version)
        kwargs.setdefault("policy", self.policy)
        return traffic_records(
            raw,
            n,
            booster=self.booster,
            hasher=self.hasher,
            seed=seed,
            start=now - timedelta(hours=hours_ago[0]),
            end=now - timedelta(hours=hours_ago[1]),
            **kwargs,
        )


@pytest.fixture(scope="session")
def drift_env(credit_env: Any) -> DriftEnv:
    import mlflow.xgboost

    mlflow.set_tracking_uri(credit_env.tracking_uri)
    booster = mlflow.xgboost.load_model(f"models:/{credit_env.model_name}/{credit_env.model_version}")
    population = applications_at_time(credit_env.profile, credit_env.applications)
    return DriftEnv(credit_env, booster, population, ApplicantHasher(DRIFT_HASH_KEY))


def write_log(url: str, spill_dir: Path, records: list[InferenceRecord]) -> None:
    """Through the real writer, as the transformer writes them."""
    with InferenceLogWriter(url, spill_dir, flush_interval=0.05, batch_size=1000) as writer:
        writer.submit(records)
        assert writer.flush(120)
    assert writer.stats.written == len(records), writer.stats


@dataclass
class DriftJob:
    """``python -m monitoring.drift`` as the CronJob runs it, against the session's servers."""

    env: dict[str, str]
    cwd: Path

    def run(self, **overrides: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, **overrides}
        return subprocess.run(
            [sys.executable, "-m", "monitoring.drift"],
            env=env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )


@pytest.fixture
def drift_job(
    drift_env: DriftEnv, postgres_server: PostgresServer, pushgateway: Any, tmp_path: Path
) -> DriftJob:
    """A drift job reading a fresh PostgreSQL inference log, pushing to the session Pushgateway."""
    return DriftJob(
        env={
            **drift_env.credit_env.mlflow.env(),
            "PYTHONPATH": str(ROOT),
            "CREDIT_HOME": str(tmp_path / "home"),
            "CREDIT_MODEL_NAME": drift_env.model_name,
            "CREDIT_INFERENCE_LOG_URL": postgres_server.url(postgres_server.create_database()),
            "CREDIT_PUSHGATEWAY_URL": pushgateway.url,
            "CREDIT_DRIFT_WINDOW_HOURS": "24",
            "CREDIT_DRIFT_MIN_RECORDS": "500",
        },
        cwd=tmp_path,
    )


@pytest.fixture
def launcher(credit_env: Any, tmp_path: Path) -> Iterator[Any]:
    """The transformer suite's launcher: predictor and transformer processes started exactly as
    their containers are (tests/transformer/conftest.py), private to one test."""
    from tests.transformer.conftest import Launcher

    own = Launcher(credit_env, tmp_path)
    yield own
    own.stop_all()

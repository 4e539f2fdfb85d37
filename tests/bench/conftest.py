"""A benchmark environment built from the session's ``credit_env`` (no second training run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.environment import BenchEnv, export_booster, make_workload


@pytest.fixture(scope="module")
def bench_env(credit_env: Any, postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> BenchEnv:
    """The session model (``credit-risk@champion`` in the session MLflow on PostgreSQL + S3), its
    booster file exported as ``make bench`` exports it, the session Redis with materialized
    features, real applications from the prepared data, and a fresh database on the session
    PostgreSQL for the inference log (``make bench`` starts its own server instead)."""
    base: Path = tmp_path_factory.mktemp("bench-env")
    return BenchEnv(
        home=base / "home",
        tracking_uri=credit_env.tracking_uri,
        model_uri=credit_env.model_uri,
        model=export_booster(
            credit_env.tracking_uri, credit_env.model_name, credit_env.model_version, base / "model"
        ),
        policy=credit_env.policy,
        redis_port=credit_env.redis.port,
        feature_repo=credit_env.feature_repo,
        # The placeholder-free profile: the in-process floor opens it without the placeholders' values.
        feature_store_config=credit_env.feature_store_yaml,
        workload=make_workload(credit_env.profile, credit_env.applications, 256),
        server_env=credit_env.env(),
        inference_log_postgres=postgres_server.url(postgres_server.create_database()),
    )

"""The foundation, built once per test session on the real servers (fixture ``credit_env``).

Prepared data in a temporary folder; the Feast repo applied with the *production* profile
(``feature_store.production.yaml``: SQL registry on the session PostgreSQL, Redis online store
on the session Redis) and materialized; a model trained on point-in-time features and
registered as ``credit-risk`` (champion + challenger) in the session MLflow server (PostgreSQL
backend, S3 artifacts on moto).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from credit_scoring.policy import ScorePolicy
from feature_store import (
    PRODUCTION_CONFIG,
    default_repo_path,
    expand_placeholders,
    load_repo_config,
    open_store,
)
from governance.exception import FairnessException
from training.data import PreparedData, prepare
from training.feature_repo import apply, materialize
from training.model import ModelConfig
from training.pipeline import TrainingResult, train_and_register
from training.search import SearchSettings

if TYPE_CHECKING:
    from feast import FeatureStore

    from tests.conftest import MlflowServer, PostgresServer, RedisServer

MODEL_NAME = "credit-risk"
# Tests train with a small search (the baseline and three drawn candidates) and few bootstrap
# replicates: the search's mechanics are the same, the session spends seconds instead of a minute.
TEST_SEARCH = SearchSettings(size=4, bootstrap_replicates=100)


def fairness_exception_for(model_name: str, air_floor: float = 0.3) -> FairnessException:
    """A fairness exception for a test model: the tests exercise the gate, not this data's AIR."""
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    return FairnessException(
        model_name=model_name,
        air_floor=air_floor,
        business_justification="Test fixture: the suites exercise the registration gate's mechanics "
        "on the public data set, whose minimum AIR no candidate lifts to 0.8.",
        signer="test suite",
        date=today - dt.timedelta(days=1),
        expiry=today + dt.timedelta(days=30),
    )


@dataclass
class CreditEnv:
    """Everything other suites need to use the trained, registered model and its features."""

    data_dir: Path  # the prepared Parquet tables (a session temp dir)
    data: PreparedData  # the same tables as DataFrames (.profile, .applications)
    feature_repo: Path  # this checkout's feature_repo/
    feature_store_config: Path  # feature_repo/feature_store.production.yaml (placeholders)
    feast_env: dict[str, str]  # values for its placeholders: session Redis + registry database
    feature_store_yaml: Path  # the same profile with placeholders filled in (a plain Feast yaml)
    store: FeatureStore  # applied and materialized (SQL registry on PostgreSQL, Redis online)
    redis: RedisServer  # the session redis_server
    mlflow: MlflowServer  # the session mlflow_server (PostgreSQL backend, S3 artifacts on moto)
    registry_db_url: str  # SQLAlchemy URL of the Feast registry database
    training: TrainingResult  # what train_and_register returned for the session model
    model_name: str = MODEL_NAME

    # ------------------------------------------------------------------ data
    @property
    def profile(self) -> pd.DataFrame:
        return self.data.profile

    @property
    def applications(self) -> pd.DataFrame:
        return self.data.applications

    @property
    def applicant_ids(self) -> list[str]:
        return sorted(self.data.applications["applicant_id"].unique().tolist())

    # ------------------------------------------------------------------ model
    @property
    def model_version(self) -> str:
        return self.training.version

    @property
    def model_uri(self) -> str:
        """The champion alias URI (what the predictor serves by default)."""
        return f"models:/{self.model_name}@champion"

    @property
    def policy(self) -> ScorePolicy:
        """The session model's decision policy (as stored in its MLflow metadata)."""
        return self.training.policy

    @property
    def tracking_uri(self) -> str:
        return self.mlflow.url

    def s3_env(self) -> dict[str, str]:
        return self.mlflow.s3.env()

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that reads the registry and the feature store."""
        return {
            **self.mlflow.env(),
            **self.feast_env,
            "CREDIT_DATA_DIR": str(self.data_dir),
            "CREDIT_FEATURE_REPO": str(self.feature_repo),
            "CREDIT_FEATURE_STORE_CONFIG": str(self.feature_store_config),
        }

    def feature_store(self) -> FeatureStore:
        """A fresh ``FeatureStore`` on the same registry and Redis (through the production profile)."""
        return open_store(self.feature_store_config, self.feature_repo, {**os.environ, **self.feast_env})

    def train_new_version(
        self, model_name: str | None = None, seed: int = 7, search: SearchSettings | None = None
    ) -> TrainingResult:
        """Train and register another version (gets ``challenger``; ``champion`` stays put), under
        a test fairness exception for its model name.

        Pass your own ``model_name`` when your test moves aliases, so other suites still find
        ``credit-risk@champion`` where the session put it.
        """
        name = model_name or self.model_name
        return train_and_register(
            self.store,
            self.applications,
            tracking_uri=self.tracking_uri,
            model_name=name,
            config=ModelConfig(seed=seed),
            search=search or TEST_SEARCH,
            exception=fairness_exception_for(name),
        )


def feast_env_for(redis: RedisServer, registry_port: int, registry_db: str) -> dict[str, str]:
    """Values for the production profile's placeholders, pointing at the test servers."""
    return {
        "CREDIT_FEAST_REGISTRY_USER": "postgres",
        "CREDIT_FEAST_REGISTRY_PASSWORD": "",
        "CREDIT_FEAST_REGISTRY_HOST": "127.0.0.1",
        "CREDIT_FEAST_REGISTRY_PORT": str(registry_port),
        "CREDIT_FEAST_REGISTRY_DB": registry_db,
        "CREDIT_REDIS_HOST": "127.0.0.1",
        "CREDIT_REDIS_PORT": str(redis.port),
        "CREDIT_REDIS_PASSWORD": "",
    }


def write_expanded_yaml(config_file: Path, repo: Path, env: Mapping[str, str], out: Path) -> Path:
    """A placeholder-free copy of a profile, for processes given a plain feature_store.yaml."""
    load_repo_config(config_file, repo, env)  # validates it, as Feast will
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(expand_placeholders(config_file.read_text(), env))
    return out


@contextmanager
def session_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the session (boto3 reads S3 settings from there)."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_credit_env(
    base: Path, redis: RedisServer, postgres: PostgresServer, mlflow: MlflowServer
) -> CreditEnv:
    prepared = prepare(base / "data")
    repo = default_repo_path()
    registry_db = postgres.create_database("feast_registry")
    feast_env = feast_env_for(redis, postgres.port, registry_db)
    config_file = repo / PRODUCTION_CONFIG
    store = open_store(config_file, repo, {**os.environ, **feast_env})
    apply(store, prepared.data_dir)
    materialize(store)
    training = train_and_register(
        store,
        prepared.applications,
        tracking_uri=mlflow.url,
        model_name=MODEL_NAME,
        search=TEST_SEARCH,
        exception=fairness_exception_for(MODEL_NAME),
    )
    return CreditEnv(
        data_dir=prepared.data_dir,
        data=prepared,
        feature_repo=repo,
        feature_store_config=config_file,
        feast_env=feast_env,
        feature_store_yaml=write_expanded_yaml(
            config_file, repo, {**os.environ, **feast_env}, base / "feast" / "feature_store.yaml"
        ),
        store=store,
        redis=redis,
        mlflow=mlflow,
        registry_db_url=postgres.url(registry_db),
        training=training,
    )

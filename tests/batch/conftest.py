"""Batch fixtures: a real portfolio, the online pair to compare with, one SparkSession, no kserve.

The portfolio is 10,000 valid applications of the session's ``credit_env`` applicants (every one
whose newest profile is within the view's ttl at the online store's materialization time, some
with missing income) and of applicants the store does not know (thin files), plus one row of
each reject class. Batch runs use ``--as-of`` = the materialization time, so the batch engines
and the online store see the same profile for every applicant.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credit_scoring.features import FEATURE_VIEW
from tests.credit_env import CreditEnv
from tests.transformer.conftest import Launcher, Server

ROOT = Path(__file__).resolve().parents[2]
VALID_ROWS = 10_000

# One row per reject class the online request can carry too (JSON has no NaN).
INVALID: list[dict[str, Any]] = [
    {"applicant_id": "", "amount": 1000.0, "price": 1500.0, "term": 36},
    {"applicant_id": "-bad", "amount": 1000.0, "price": 1500.0, "term": 36},
    {"applicant_id": "A" * 65, "amount": 1000.0, "price": 1500.0, "term": 36},
    {"applicant_id": None, "amount": 1000.0, "price": 1500.0, "term": 36},
    {"applicant_id": "A1", "amount": 0.0, "price": 1500.0, "term": 36},
    {"applicant_id": "A1", "amount": -3.0, "price": 2e6, "term": 36},
    {"applicant_id": "A1", "amount": 2000.0, "price": 1500.0, "term": 36},
    {"applicant_id": "A1", "amount": 1000.0, "price": 1500.0, "term": 0},
    {"applicant_id": "A1", "amount": 1000.0, "price": 1500.0, "term": 121},
    {"applicant_id": "A1", "amount": None, "price": 1500.0, "term": None},
    {"applicant_id": "", "amount": -1.0, "price": 0.0, "term": 500},
]


@dataclass(frozen=True)
class Portfolio:
    path: Path
    frame: pd.DataFrame
    """Every row, in file order (``application_id`` unique)."""
    invalid_rows: list[int]
    """File rows of the invalid applications."""

    @property
    def valid(self) -> pd.DataFrame:
        return self.frame.drop(index=self.invalid_rows)


@pytest.fixture(scope="session")
def materialized_at(credit_env: CreditEnv) -> datetime:
    """End of the online store's last materialization, from the Feast registry."""
    view = credit_env.feature_store().get_feature_view(FEATURE_VIEW)
    assert view.materialization_intervals, "credit_env materialized the view"
    return max(end for _, end in view.materialization_intervals)


@pytest.fixture(scope="session")
def portfolio(credit_env: CreditEnv, materialized_at: datetime, tmp_path_factory) -> Portfolio:
    rng = np.random.default_rng(15)
    profile = credit_env.profile
    ttl = credit_env.store.get_feature_view(FEATURE_VIEW).ttl
    newest = profile.groupby("applicant_id")["event_timestamp"].max()
    known = np.array(sorted(newest[newest >= pd.Timestamp(materialized_at) - ttl].index))
    assert len(known) > 500
    unknown = rng.random(VALID_ROWS) < 0.05
    ids = np.where(unknown, [f"NEW-{i:06d}" for i in range(VALID_ROWS)], rng.choice(known, VALID_ROWS))
    price = rng.uniform(300, 5000, VALID_ROWS).round(0)
    frame = pd.DataFrame(
        {
            "application_id": [f"L{i:07d}" for i in range(VALID_ROWS)],
            "applicant_id": ids,
            # Ignored: --as-of gives every row the materialization time.
            "application_timestamp": pd.Timestamp("2024-01-01", tz="UTC"),
            "amount": (price * rng.uniform(0.1, 1.0, VALID_ROWS)).round(0),
            "price": price,
            "term": rng.choice([6, 12, 24, 36, 48, 60, 72], VALID_ROWS).astype("int64"),
            "branch": "ignored column",
        }
    )
    bad = pd.DataFrame(INVALID).assign(
        application_id=[f"X{i:03d}" for i in range(len(INVALID))],
        application_timestamp=pd.Timestamp("2024-01-01", tz="UTC"),
        branch="ignored column",
    )
    positions = sorted(rng.choice(VALID_ROWS, len(INVALID), replace=False).tolist())
    parts, start = [], 0
    for k, pos in enumerate(positions):
        parts += [frame.iloc[start:pos], bad.iloc[[k]]]
        start = pos
    parts.append(frame.iloc[start:])
    full = pd.concat(parts, ignore_index=True)
    full["term"] = full["term"].astype("Int64")  # nullable: one invalid row has no term
    path = tmp_path_factory.mktemp("portfolio") / "portfolio.parquet"
    full.to_parquet(path, index=False)
    invalid_rows = full.index[full["application_id"].str.startswith("X")].tolist()
    return Portfolio(path, full, invalid_rows)


@pytest.fixture(scope="session")
def online(credit_env: CreditEnv, tmp_path_factory) -> Iterator[Server]:
    """A predictor and transformer pair (the containers' commands) on the session's stores."""
    launcher = Launcher(credit_env, tmp_path_factory.mktemp("batch-online"))
    predictor = launcher.predictor()
    yield launcher.transformer(predictor)
    launcher.stop_all()


@pytest.fixture(scope="session")
def without_kserve(tmp_path_factory) -> dict[str, str]:
    """Environment in which ``import kserve`` fails, in every process started with it (worker
    processes and Spark's Python workers included): the batch job must not need it."""
    folder = tmp_path_factory.mktemp("no-kserve")
    (folder / "kserve").mkdir()
    (folder / "kserve" / "__init__.py").write_text(
        'raise ImportError("kserve is not part of the batch job")\n'
    )
    return {"PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def batch_env(credit_env: CreditEnv, home: Path, **extra: str) -> dict[str, str]:
    """Environment of a batch process on the session's stores (MLflow/S3, Feast registry)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **credit_env.env(),
        "CREDIT_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra,
    }


@pytest.fixture(scope="session")
def spark(tmp_path_factory):  # type: ignore[no-untyped-def]  # pyspark's session type
    """One local[2] SparkSession for the whole test session (a JVM start costs seconds)."""
    from batch.settings import BatchSettings
    from batch.spark import spark_session

    os.environ.setdefault("SPARK_LOCAL_DIRS", str(tmp_path_factory.mktemp("spark-local")))
    settings = BatchSettings(input=Path("unused"), output=Path("unused"), spark_master="local[2]")
    session = spark_session(settings)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()

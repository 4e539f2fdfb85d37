"""Fixtures of the monitoring tests: a PostgreSQL that can be stopped and restarted, records."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from credit_scoring.features import feature_names
from credit_scoring.inference_log import ApplicantHasher, InferenceRecord, Role, records_from_batch
from tests.conftest import PostgresServer, _server_user, _start_as, start_postgres
from tests.servers import pg_binary, start_process, wait_port


def restart_postgres(server: PostgresServer, log_dir: Path) -> None:
    """Start a stopped server again on the same port and data directory."""
    base = Path(str(server.process.extra["base"]))
    data, sock = base / "data", base / "sock"
    user, _uid, gid = _server_user()
    if user is None:
        proc = start_process(
            f"postgres-{server.port}-restart",
            [
                pg_binary("postgres"),
                "-D",
                str(data),
                "-p",
                str(server.port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            log_dir,
        )
    else:
        proc = _start_as(user, gid, server.port, data, sock, log_dir)
    wait_port(proc, server.port, timeout=60)
    proc.extra["base"] = base
    server.process = proc


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, which the test may stop and restart."""
    import shutil

    server = start_postgres(tmp_path / "pg-logs")
    yield server
    server.stop()
    shutil.rmtree(Path(str(server.process.extra["base"])), ignore_errors=True)


@pytest.fixture
def hasher() -> ApplicantHasher:
    return ApplicantHasher(b"test-key-of-at-least-16-bytes")


@pytest.fixture
def make_records(hasher: ApplicantHasher) -> Callable[..., list[InferenceRecord]]:
    """``make_records(n, role=..., seed=...)``: n records of one request with random features."""

    def make(
        n: int,
        role: Role = Role.CHAMPION,
        seed: int = 0,
        request_id: str | None = None,
        model_version: str = "1",
    ) -> list[InferenceRecord]:
        rng = np.random.default_rng(seed)
        matrix = rng.uniform(0, 1000, size=(n, len(feature_names()))).astype(np.float32)
        matrix[rng.random((n, len(feature_names()))) < 0.05] = np.nan
        pd_ = rng.uniform(0, 1, n)
        return records_from_batch(
            request_id=request_id or uuid.uuid4().hex,
            applicant_ids=[f"app-{i}" for i in range(n)],
            hasher=hasher,
            matrix=matrix,
            pd=pd_,
            score=600 - 100 * pd_,
            decisions=["approve" if p < 0.3 else "decline" for p in pd_],
            risk_bands=["A" if p < 0.3 else "E" for p in pd_],
            reason_codes=[[] if p < 0.3 else ["R07", "R16"] for p in pd_],
            thin_file=[False] * n,
            model_name="credit-risk",
            model_version=model_version,
            model_alias="champion" if role is Role.CHAMPION else "challenger",
            role=role,
            latency_ms=4.2,
        )

    return make

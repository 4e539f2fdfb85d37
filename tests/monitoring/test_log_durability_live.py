"""The inference log behind the real transformer: records in the log == applications answered
200, after a SIGTERM during load, and after a PostgreSQL outage with replay."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from inference_log import LOG_TABLE
from tests.conftest import PostgresServer
from tests.monitoring.conftest import restart_postgres
from tests.servers import eventually
from tests.transformer.conftest import Launcher, Server

FAST_LOG = {
    "inference_log_retry_interval_seconds": "0.5",
    "inference_log_connect_timeout_seconds": "1",
    "inference_log_flush_interval_seconds": "0.1",
}


class Load:
    """Clients posting batches until stopped; counts applications answered 200."""

    def __init__(self, server: Server, applicant_ids: list[str], clients: int = 4) -> None:
        self.url = f"{server.url}/v1/models/credit-scoring:predict"
        self.headers = server.auth
        self.ids = applicant_ids
        self.answered = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(clients)]

    def _run(self, k: int) -> None:
        i = 0
        with httpx.Client(timeout=30, headers=self.headers) as client:
            while not self._stop.is_set():
                i += 1
                n = 1 + (i + k) % 5
                instances = [
                    {
                        "applicant_id": self.ids[(i * 7 + j + k * 101) % len(self.ids)],
                        "amount": 900.0,
                        "price": 1400.0,
                        "term": 36,
                    }
                    for j in range(n)
                ]
                try:
                    response = client.post(self.url, json={"instances": instances})
                except httpx.HTTPError:
                    with self._lock:
                        self.failed += 1
                    time.sleep(0.05)
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.answered += len(response.json()["predictions"])
                    else:
                        self.failed += 1

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def count_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(LOG_TABLE).where(LOG_TABLE.c.role == "champion")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_sigterm_during_load_keeps_every_answered_record(
    launcher: Launcher, postgres_server: PostgresServer, credit_env
):
    url = postgres_server.url(postgres_server.create_database())
    predictor = launcher.predictor()
    transformer: Server = launcher.transformer(predictor, inference_log_url=url, **FAST_LOG)
    with Load(transformer, credit_env.applicant_ids) as load:
        eventually(lambda: load.answered > 200, 120, "under load")
        os.kill(transformer.process.pid, signal.SIGTERM)
        assert transformer.process.wait(timeout=60) is not None
    assert load.answered > 200
    assert count_rows(url) == load.answered
    assert not list(
        (Path(transformer.process.log.parent) / f"transformer-{transformer.http_port}").rglob("*.jsonl")
    )


def test_database_outage_is_replayed_exactly_once(
    launcher: Launcher, private_postgres: PostgresServer, credit_env, tmp_path: Path
):
    url = private_postgres.url(private_postgres.create_database())
    predictor = launcher.predictor()
    transformer = launcher.transformer(predictor, inference_log_url=url, **FAST_LOG)
    with Load(transformer, credit_env.applicant_ids, clients=2) as load:
        eventually(lambda: load.answered > 100, 120, "under load")
        private_postgres.stop()
        before = load.answered
        eventually(lambda: load.answered > before + 150, 120, "answering while the database is down")
        # The writer spills after its connect timeout and retry; on a loaded machine that can
        # come after the 150 answers above.
        eventually(
            lambda: transformer.metric("credit_inference_log_records_total", outcome="spilled") > 0,
            60,
            "spilling while the database is down",
        )
        restart_postgres(private_postgres, tmp_path / "pg-restart")
        eventually(
            lambda: transformer.metric("credit_inference_log_records_total", outcome="replayed") > 0,
            60,
            "replaying",
        )
    assert load.failed == 0  # the outage never reached a client
    eventually(lambda: count_rows(url) == load.answered, 60, "every answered application in the log")
    time.sleep(1.0)
    assert count_rows(url) == load.answered  # and no more (no duplicates from the replay)
    spilled = transformer.metric("credit_inference_log_records_total", outcome="spilled")
    assert transformer.metric("credit_inference_log_records_total", outcome="replayed") == spilled
    assert transformer.metric("credit_inference_log_records_total", outcome="dropped") == 0

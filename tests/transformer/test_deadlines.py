"""Slow dependencies and shutdown, with real processes: a slow Redis is a 503 within the lookup
deadline (not a hang), and SIGTERM lets a request already in flight finish and reach the log."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from inference_log import LOG_TABLE
from tests.credit_env import CreditEnv
from tests.slow_proxy import SlowProxy
from tests.transformer.conftest import Launcher, Server
from tests.transformer.test_outages import _copy_online_store, _post, _request, _until

DEADLINE = 0.5  # CREDIT_FEATURE_TIMEOUT_SECONDS in these tests


def test_redis_slower_than_the_deadline_is_503_within_it_and_recovers(
    credit_env: CreditEnv, redis_factory, launcher: Launcher, predictor: Server
):
    own = redis_factory()
    _copy_online_store(credit_env.redis.port, own)
    with SlowProxy(own.port) as proxy:
        transformer = launcher.transformer(
            predictor,
            feast_env={"CREDIT_REDIS_PORT": str(proxy.port)},
            feature_timeout_seconds=DEADLINE,
            feature_marker_check_seconds=0.5,
        )
        body = _request(credit_env, 5)
        assert _post(transformer, body).status_code == 200

        proxy.delay = 10.0  # far past the deadline: a hang would show
        started = time.monotonic()
        slow = _post(transformer, body)
        took = time.monotonic() - started
        assert slow.status_code == 503
        assert f"did not answer within {DEADLINE:g}s" in slow.json()["error"]
        assert took < DEADLINE + 2.0, f"answered after {took:.1f}s"
        # Slow is an outage, not an emptied store: readiness stays, no store code.
        assert "code" not in slow.json()
        time.sleep(1.5)  # a few background marker checks time out meanwhile
        assert transformer.ready()
        assert transformer.metric("credit_dependency_failures_total", dependency="feature_store") >= 1

        proxy.delay = 0.0
        _until(lambda: _post(transformer, body).status_code == 200)


def _log_rows(home: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{home / 'inference_log.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(LOG_TABLE)).scalar_one())
    finally:
        engine.dispose()


def test_sigterm_lets_the_request_in_flight_finish_and_logs_it(credit_env: CreditEnv, launcher: Launcher):
    predictor = launcher.predictor()
    with SlowProxy(predictor.http_port) as proxy:
        transformer = launcher.transformer(f"127.0.0.1:{proxy.port}")
        body = _request(credit_env, 7)
        assert _post(transformer, body).status_code == 200  # warm: 7 records

        proxy.delay = 2.0  # the next predictor answer is held back: the request stays in flight
        answer: dict[str, httpx.Response] = {}
        client = threading.Thread(target=lambda: answer.setdefault("r", _post(transformer, body)))
        client.start()
        time.sleep(0.8)
        assert "r" not in answer, "the request was expected to be in flight"
        os.kill(transformer.process.pid, signal.SIGTERM)
        client.join(30)
        assert transformer.process.wait(timeout=60) is not None

    in_flight = answer["r"]
    assert in_flight.status_code == 200, in_flight.text
    assert len(in_flight.json()["predictions"]) == 7
    # Served records equal successful responses: both batches, flushed before exit.
    assert _log_rows(launcher.workdir / f"transformer-{transformer.http_port}") == 14

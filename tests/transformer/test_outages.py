"""Failing dependencies give a defined answer (503, clear message) and recovery needs no restart.

Each test runs its own Redis / predictor / transformer, so stopping them disturbs nobody else.
Also the gRPC v2 path from the transformer to the predictor.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from feature_store import EMBEDDED_CONFIG, open_store, redis_profile
from tests.conftest import RedisServer
from tests.credit_env import CreditEnv
from tests.servers import free_port
from tests.transformer.conftest import Launcher, Server
from training.feature_repo import apply, materialize_incremental

V1 = "/v1/models/credit-scoring:predict"


def _request(credit_env: CreditEnv, n: int = 3) -> dict:
    ids = credit_env.applicant_ids[:n]
    return {"instances": [{"applicant_id": i, "amount": 1000.0, "price": 1500.0, "term": 24} for i in ids]}


def _post(server: Server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}{V1}", json=body, timeout=30, headers=server.auth)


def _copy_online_store(source_port: int, target: RedisServer) -> int:
    """The session's materialized features into a private Redis (DUMP/RESTORE, byte for byte)."""
    src, dst = redis.Redis(port=source_port), redis.Redis(port=target.port)
    copied = 0
    for key in src.scan_iter(count=1000):
        dst.restore(key, 0, src.dump(key), replace=True)
        copied += 1
    dst.save()  # so a restart of this Redis comes back with the data (it loads dump.rdb)
    return copied


def _until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_redis_down_is_503_and_scoring_resumes_when_it_returns(
    credit_env: CreditEnv, redis_factory, launcher: Launcher, predictor: Server
):
    own = redis_factory()
    assert _copy_online_store(credit_env.redis.port, own) >= len(credit_env.applicant_ids)
    transformer = launcher.transformer(predictor, feast_env={"CREDIT_REDIS_PORT": str(own.port)})
    body = _request(credit_env)
    healthy = _post(transformer, body)
    assert healthy.status_code == 200, healthy.text
    assert not any(a["thin_file"] for a in healthy.json()["predictions"])

    own.stop()
    down = _post(transformer, body)
    assert down.status_code == 503
    message = down.json()["error"]
    assert "feature store" in message
    assert f"127.0.0.1:{own.port}" in message
    assert "unavailable" in message
    assert transformer.metric("credit_dependency_failures_total", dependency="feature_store") >= 1

    own.start()
    _until(lambda: _post(transformer, body).status_code == 200)
    again = _post(transformer, body).json()["predictions"]
    assert [a["pd"] for a in again] == [a["pd"] for a in healthy.json()["predictions"]]
    assert transformer.process.alive()


def test_an_emptied_online_store_is_503_and_not_ready_never_thin_files(
    credit_env: CreditEnv, redis_factory, launcher: Launcher, predictor: Server, tmp_path: Path
):
    """Redis loses its data under a running transformer (FLUSHALL, as a restart without
    persistence does): known applicants must not become thin files. The CronJob's incremental
    materialization finds no marker, backfills in full, and the same answers come back."""
    own = redis_factory()
    _copy_online_store(credit_env.redis.port, own)
    transformer = launcher.transformer(
        predictor, feast_env={"CREDIT_REDIS_PORT": str(own.port)}, feature_marker_check_seconds=0.5
    )
    body = _request(credit_env, 20)
    healthy = _post(transformer, body)
    assert healthy.status_code == 200, healthy.text
    assert not any(a["thin_file"] for a in healthy.json()["predictions"])
    assert transformer.metric("credit_online_store_ready") == 1

    redis.Redis(port=own.port).flushall()
    emptied = _post(transformer, body)  # the very next batch: the marker is read with the profiles
    assert emptied.status_code == 503
    assert emptied.json()["code"] == "online_store_empty"
    assert "re-materialize" in emptied.json()["error"]
    _until(lambda: not transformer.ready(), timeout=10)
    assert transformer.metric("credit_online_store_ready") == 0
    still = _post(transformer, body)
    assert (still.status_code, still.json()["code"]) == (503, "online_store_empty")

    # Recovery: the materialize CronJob's code path, on its own registry, into the emptied Redis.
    profile = redis_profile(
        credit_env.feature_repo / EMBEDDED_CONFIG, tmp_path / "feast", f"127.0.0.1:{own.port}"
    )
    store = open_store(profile, credit_env.feature_repo, {"CREDIT_HOME": str(tmp_path / "home")})
    apply(store, credit_env.data_dir)
    _, _, full = materialize_incremental(store)
    assert full, "no marker: the incremental job backfills in full"
    _until(transformer.ready, timeout=10)
    again = _post(transformer, body)
    assert again.status_code == 200, again.text
    strip = lambda answers: [{k: v for k, v in a.items() if k != "request_id"} for a in answers]  # noqa: E731
    assert strip(again.json()["predictions"]) == strip(healthy.json()["predictions"])


def test_predictor_down_is_503_and_scoring_resumes_when_it_returns(credit_env: CreditEnv, launcher: Launcher):
    port = free_port()
    first = launcher.predictor(http_port=port)
    transformer = launcher.transformer(first)
    body = _request(credit_env)
    assert _post(transformer, body).status_code == 200

    first.stop()
    down = _post(transformer, body)
    assert down.status_code == 503
    message = down.json()["error"]
    assert "predictor" in message
    assert f"127.0.0.1:{port}" in message
    assert transformer.metric("credit_dependency_failures_total", dependency="predictor") >= 1

    launcher.predictor(http_port=port)  # back on the same address
    _until(lambda: _post(transformer, body).status_code == 200)
    assert transformer.process.alive()


def test_nothing_listening_at_the_predictor_address_is_503_not_500(credit_env: CreditEnv, launcher: Launcher):
    transformer = launcher.transformer(f"127.0.0.1:{free_port()}")
    response = _post(transformer, _request(credit_env, 1))
    assert response.status_code == 503
    assert "unreachable" in response.json()["error"]


def test_grpc_v2_to_the_predictor_gives_the_rest_answers(
    credit_env: CreditEnv, launcher: Launcher, predictor: Server, transformer: Server
):
    over_grpc = launcher.transformer(predictor, protocol="grpc-v2")
    body = _request(credit_env, 20)
    by_grpc = _post(over_grpc, body)
    assert by_grpc.status_code == 200, by_grpc.text
    by_rest = _post(transformer, body).json()["predictions"]
    strip = lambda answers: [{k: v for k, v in a.items() if k != "request_id"} for a in answers]  # noqa: E731
    assert strip(by_grpc.json()["predictions"]) == strip(by_rest)

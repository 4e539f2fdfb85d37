"""Lifecycle over real processes: registry outage at start, hot reload under load, failed reloads, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

import grpc
import httpx
import numpy as np
import orjson
from kserve import InferenceGRPCClient
from kserve.protocol.infer_type import InferInput, InferRequest

from bench.payloads import predictor_request
from tests.predictor.conftest import Predictor, start_mlflow_on, wait_until
from tests.predictor.registry_helpers import credit_data, policy_for, register, set_alias, train_booster
from tests.servers import free_port

POLL = 1.0


def _grpc_status(predictor: Predictor) -> grpc.StatusCode:
    """Status of a one-row gRPC inference through KServe's own client."""

    async def call() -> grpc.StatusCode:
        client = InferenceGRPCClient(predictor.grpc_target, timeout=10)
        tensor = InferInput("features", [1, len(credit_data()[0][0])], "FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(credit_data()[0][:1]))
        try:
            await client.infer(InferRequest(model_name="credit-risk", infer_inputs=[tensor]))
        except grpc.RpcError as exc:
            return exc.code()
        finally:
            await client.close()
        return grpc.StatusCode.OK

    return asyncio.run(call())


@dataclass
class Record:
    row: int
    start: float
    end: float
    status: int
    version: str | None = None
    probability: float | None = None


@dataclass
class Load:
    """Concurrent 1-row v2 requests from a background thread until stopped; every answer recorded."""

    url: str
    rows: np.ndarray
    concurrency: int = 8
    records: list[Record] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Record]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        return list(self.records)

    def saw(self, version: str) -> bool:
        return any(r.version == version for r in list(self.records))

    async def _main(self) -> None:
        bodies = [predictor_request(self.rows[i : i + 1]) for i in range(len(self.rows))]
        async with httpx.AsyncClient(timeout=30) as client:

            async def worker(offset: int) -> None:
                i = offset
                while not self._stop.is_set():
                    row = i % len(bodies)
                    start = time.monotonic()
                    try:
                        response = await client.post(
                            f"{self.url}/v2/models/credit-risk/infer", json=bodies[row]
                        )
                    except httpx.HTTPError:
                        self.records.append(Record(row, start, time.monotonic(), -1))
                    else:
                        record = Record(row, start, time.monotonic(), response.status_code)
                        if response.status_code == 200:
                            doc = response.json()
                            record.version = doc["model_version"]
                            record.probability = doc["outputs"][0]["data"][0]
                        self.records.append(record)
                    i += self.concurrency

            await asyncio.gather(*(worker(k) for k in range(self.concurrency)))


def test_hot_reload_under_load_switches_version_with_zero_failures(launch, mlflow_client_env):
    tracking = mlflow_client_env.url
    name = f"predictor-reload-{uuid.uuid4().hex[:6]}"
    first_booster = train_booster(seed=7)
    first = register(tracking, name, first_booster, policy_for(first_booster), aliases=("champion",))
    predictor: Predictor = launch.start(f"models:/{name}@champion", poll_interval_seconds=str(POLL))
    pid = predictor.process.pid
    rows = np.ascontiguousarray(credit_data()[0][:64])

    load = Load(predictor.url, rows).start()
    wait_until(lambda: len(load.records) > 50, timeout=60)
    second_booster = train_booster(seed=11, rounds=60)
    second = register(tracking, name, second_booster, policy_for(second_booster))
    moved = time.monotonic()
    set_alias(tracking, name, "champion", second.version)
    labels = {"model": name, "alias": "champion"}
    detected = wait_until(
        lambda: predictor.metric("credit_model_registry_version", **labels) == float(second.version),
        timeout=POLL + 10,
    )
    wait_until(lambda: load.saw(second.version), timeout=120)
    switched = time.monotonic() - moved
    time.sleep(1.0)
    records = load.stop()

    failures = [r for r in records if r.status != 200]
    assert not failures, f"{len(failures)} failed requests, e.g. {failures[:3]}"
    assert {r.version for r in records} == {first.version, second.version}
    # The move is seen within one poll interval (+ one MLflow call and one /metrics read, both
    # slowed by the concurrent load on a small machine) ...
    assert detected <= POLL + 3.0, f"alias move noticed after {detected:.1f}s"
    # ... and once a request was answered by the new version, no later request got the old one.
    first_new = min(r.end for r in records if r.version == second.version)
    assert not [r for r in records if r.start > first_new and r.version == first.version]
    # Each answer is exactly what its version's booster says for that row.
    expected = {
        first.version: first_booster.inplace_predict(rows),
        second.version: second_booster.inplace_predict(rows),
    }
    for r in records:
        assert r.probability is not None
        assert abs(r.probability - float(expected[r.version][r.row])) <= 1e-6
    assert predictor.process.alive()
    assert predictor.process.pid == pid
    assert predictor.metric("credit_model_served_version", **labels) == float(second.version)
    assert predictor.metric("credit_model_reloads_total", model=name, outcome="success") == 2
    print(f"{len(records)} requests, 0 failed; move seen after {detected:.2f}s, served after {switched:.2f}s")


def test_broken_version_keeps_serving_the_current_one_and_counts_a_failure(launch, mlflow_client_env):
    tracking = mlflow_client_env.url
    name = f"predictor-broken-{uuid.uuid4().hex[:6]}"
    good_booster = train_booster(seed=7)
    good = register(tracking, name, good_booster, policy_for(good_booster), aliases=("champion",))
    predictor: Predictor = launch.start(f"models:/{name}@champion", poll_interval_seconds=str(POLL))
    # A booster trained on 5 of the contract's features: registered fine, but not servable under the contract.
    broken = register(tracking, name, train_booster(seed=3, rounds=10, n_features=5), good.policy)
    set_alias(tracking, name, "champion", broken.version)
    failures = {"model": name, "outcome": "failure"}
    wait_until(lambda: (predictor.metric("credit_model_reloads_total", **failures) or 0) >= 1, timeout=120)

    rows = credit_data()[0][:5]
    for i in range(len(rows)):
        response = httpx.post(
            f"{predictor.url}/v2/models/credit-risk/infer",
            json=predictor_request(rows[i : i + 1]),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == good.version
    labels = {"model": name, "alias": "champion"}
    assert predictor.metric("credit_model_served_version", **labels) == float(good.version)
    assert predictor.metric("credit_model_registry_version", **labels) == float(broken.version)
    assert predictor.metric("credit_model_ready", model=name) == 1
    assert predictor.is_ready()
    log = predictor.log()
    assert f"version {broken.version} failed" in log
    assert f"still serving version {good.version}" in log
    assert "booster takes 5 features" in log

    # The alias moving on to a good version is followed as usual.
    fixed_booster = train_booster(seed=5, rounds=40)
    fixed = register(tracking, name, fixed_booster, policy_for(fixed_booster))
    set_alias(tracking, name, "champion", fixed.version)
    wait_until(lambda: predictor.metric("credit_model_served_version", **labels) == float(fixed.version), 120)


def test_not_ready_while_mlflow_is_unreachable_then_ready_when_it_comes_up(
    launch, served_model, postgres_server, mlflow_client_env, tmp_path
):
    port = free_port()  # nothing listens here yet
    predictor: Predictor = launch.start(
        f"models:/{served_model.name}@champion",
        wait=False,
        tracking_uri=f"http://127.0.0.1:{port}",
        startup_backoff_seconds="0.5",
        startup_backoff_max_seconds="2",
    )
    wait_until(lambda: "not ready" in predictor.log() and "cannot resolve" in predictor.log(), timeout=180)
    assert httpx.get(f"{predictor.url}/v2/health/live", timeout=5).status_code == 200
    assert httpx.get(f"{predictor.url}/v2/health/ready", timeout=5).status_code == 503
    assert httpx.get(f"{predictor.url}/v2/models/credit-risk/ready", timeout=5).status_code == 503
    assert predictor.metric("credit_model_ready", model=served_model.name) == 0
    refused = httpx.post(
        f"{predictor.url}/v2/models/credit-risk/infer",
        json=predictor_request(credit_data()[0][:1]),
        timeout=5,
    )
    assert refused.status_code == 503
    assert "not ready" in refused.json()["error"]
    assert _grpc_status(predictor) == grpc.StatusCode.UNAVAILABLE

    late = start_mlflow_on(port, postgres_server, mlflow_client_env, tmp_path / "late-mlflow")
    try:
        took = wait_until(predictor.is_ready, timeout=120)
        response = httpx.post(
            f"{predictor.url}/v2/models/credit-risk/infer",
            json=predictor_request(credit_data()[0][:1]),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == served_model.version
        assert predictor.metric("credit_model_ready", model=served_model.name) == 1
        assert _grpc_status(predictor) == grpc.StatusCode.OK
    finally:
        late.stop()
    print(f"ready {took:.1f}s after MLflow came up")


def test_sigterm_drains_the_in_flight_request_and_exits_cleanly(launch, served_model):
    predictor: Predictor = launch.start(f"models:/{served_model.name}@champion")
    rows = np.ascontiguousarray(np.tile(credit_data()[0][:500], (6, 1)))  # 3,000 rows with contributions
    body = orjson.dumps(predictor_request(rows, pred_contribs=True))
    half_sent, terminated = threading.Event(), threading.Event()
    result: dict[str, httpx.Response] = {}

    def slow_body():
        # The request is provably in flight when SIGTERM arrives: half of its body is on the
        # wire and the rest only follows the signal (no race with how fast scoring is).
        yield body[: len(body) // 2]
        half_sent.set()
        terminated.wait(30)
        yield body[len(body) // 2 :]

    def send() -> None:
        result["response"] = httpx.post(
            f"{predictor.url}/v2/models/credit-risk/infer",
            content=slow_body(),
            headers={"content-type": "application/json", "content-length": str(len(body))},
            timeout=120,
        )

    sender = threading.Thread(target=send)
    sender.start()
    assert half_sent.wait(30)
    time.sleep(0.2)  # let the server read the first half
    os.kill(predictor.process.pid, signal.SIGTERM)
    time.sleep(0.5)  # the server is shutting down while the request is still arriving
    terminated.set()
    sender.join(120)
    assert result["response"].status_code == 200, result["response"].text
    assert len(result["response"].json()["outputs"][0]["data"]) == len(rows)
    assert predictor.process.wait(60) == 0
    assert "shutting down" in predictor.log()

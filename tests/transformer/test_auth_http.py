"""Who may call what, on the real servers: API keys on every transformer route but the probes and
``/metrics`` (HTTP and gRPC), KServe's model-repository routes closed on both servers (the model
stays ready), v1 explain closed, keys rotated without a restart, the per-client rate limit."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.credit_env import CreditEnv
from tests.servers import scrape, wait_for
from tests.transformer.conftest import V1, Launcher, Server, applications_input, v1_body
from transformer.auth import hash_key

V2 = "/v2/models/credit-scoring/infer"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", V1),
        ("POST", V2),
        ("GET", "/monitoring"),
        ("GET", "/v2/models/credit-scoring"),
        ("GET", "/v2"),
    ],
)
def test_every_product_route_needs_a_key(transformer: Server, method: str, path: str):
    reply = httpx.request(
        method, f"{transformer.url}{path}", headers={"x-request-id": "no-key-1"}, timeout=30
    )
    assert reply.status_code == 401, reply.text
    assert reply.json() == {"error": "unauthenticated", "code": "unauthenticated", "request_id": "no-key-1"}
    before = _refused(transformer, "invalid_key")
    wrong = httpx.request(method, f"{transformer.url}{path}", headers={"x-api-key": "not-a-key"}, timeout=30)
    assert wrong.status_code == 401
    assert _refused(transformer, "invalid_key") == before + 1
    assert _refused(transformer, "missing") >= 1


def _refused(transformer: Server, reason: str) -> float:
    """The transformer's own count of refusals for ``reason``, scraped from its ``/metrics``."""
    samples = scrape(f"{transformer.url}/metrics")
    return samples[("credit_requests_refused_total", frozenset({("reason", reason)}))]


def test_probes_and_metrics_stay_open(transformer: Server):
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/credit-scoring/ready", "/metrics"):
        assert httpx.get(f"{transformer.url}{path}", timeout=10).status_code == 200, path


def test_the_key_header_and_a_bearer_token_both_score(transformer: Server, credit_env: CreditEnv):
    by_header = httpx.post(
        f"{transformer.url}{V1}", json=v1_body(credit_env), headers=transformer.auth, timeout=30
    )
    bearer = {"authorization": f"Bearer {transformer.api_key}"}
    by_bearer = httpx.post(f"{transformer.url}{V1}", json=v1_body(credit_env), headers=bearer, timeout=30)
    assert by_header.status_code == by_bearer.status_code == 200, by_bearer.text
    assert by_header.json()["predictions"][0]["pd"] == by_bearer.json()["predictions"][0]["pd"]


async def test_grpc_needs_the_key_in_its_metadata(transformer: Server, credit_env: CreditEnv):
    import grpc
    from kserve import InferenceGRPCClient, InferRequest

    inputs = applications_input(v1_body(credit_env)["instances"])
    client = InferenceGRPCClient(transformer.grpc_target, timeout=30)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.infer(InferRequest(model_name="credit-scoring", infer_inputs=inputs))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = await client.infer(
            InferRequest(model_name="credit-scoring", infer_inputs=inputs),
            headers=tuple(transformer.auth.items()),
        )
        assert ok.get_output_by_name("answers") is not None
        assert await client.is_server_ready()  # health stays open over gRPC too
    finally:
        await client.close()


@pytest.mark.parametrize("server_name", ["transformer", "predictor"])
@pytest.mark.parametrize("verb", ["unload", "load"])
def test_model_repository_routes_are_closed_and_the_model_stays_ready(
    request, credit_env: CreditEnv, server_name: str, verb: str
):
    server: Server = request.getfixturevalue(server_name)
    path = f"/v2/repository/models/{server.model}/{verb}"
    reply = httpx.post(f"{server.url}{path}", headers={"x-request-id": "repo-1", **server.auth}, timeout=30)
    assert reply.status_code == 404
    assert reply.json() == {"error": f"not found: {path}", "request_id": "repo-1"}
    index = httpx.post(f"{server.url}/v2/repository/index", headers=server.auth, timeout=30)
    assert index.status_code == 404
    assert httpx.get(f"{server.url}/v2/health/ready", timeout=10).status_code == 200
    assert server.ready()
    if server_name == "transformer":
        scored = httpx.post(f"{server.url}{V1}", json=v1_body(credit_env), headers=server.auth, timeout=30)
        assert scored.status_code == 200, scored.text


def test_v1_explain_is_closed_with_the_reason(transformer: Server):
    reply = httpx.post(
        f"{transformer.url}/v1/models/credit-scoring:explain",
        json={"instances": []},
        headers={"x-request-id": "explain-1", **transformer.auth},
        timeout=30,
    )
    assert reply.status_code == 501
    assert reply.json()["request_id"] == "explain-1"
    assert "adverse-action reasons" in reply.json()["error"]


def test_keys_rotate_without_restart_and_each_client_has_its_rate(
    launcher: Launcher, predictor: Server, credit_env: CreditEnv
):
    server = launcher.transformer(predictor, rate_limit_per_second="0.05", rate_limit_burst="3")
    keys_file = server.process.log.parent / f"transformer-{server.http_port}" / "api-keys"
    url = f"{server.url}{V1}"
    statuses = [
        httpx.post(
            url, json=v1_body(credit_env), headers={**server.auth, "x-request-id": f"r{i}"}, timeout=30
        )
        for i in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[3].json() == {"error": "rate_limited", "code": "rate_limited", "request_id": "r3"}
    assert int(statuses[3].headers["retry-after"]) >= 1

    # Rotation: a second key for another client is added to the mounted file; no restart.
    keys_file.write_text(keys_file.read_text() + f"bank-b:{hash_key('second-key')}\n")
    second = {"x-api-key": "second-key"}
    wait_for(
        server.process,
        lambda: httpx.post(url, json=v1_body(credit_env), headers=second, timeout=30).status_code == 200,
        timeout=30,
        what="the added key accepted",
    )
    # The first client's budget is its own: still spent.
    assert httpx.post(url, json=v1_body(credit_env), headers=server.auth, timeout=30).status_code == 429
    # Revoking: the first client's line removed, its key refused from then on.
    keys_file.write_text(f"bank-b:{hash_key('second-key')}\n")
    time.sleep(0.01)
    wait_for(
        server.process,
        lambda: httpx.post(url, json=v1_body(credit_env), headers=server.auth, timeout=30).status_code == 401,
        timeout=30,
        what="the removed key refused",
    )


@pytest.mark.parametrize("server_name", ["transformer", "predictor"])
async def test_grpc_repository_unload_is_closed_and_the_model_stays_ready(request, server_name: str):
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

    server: Server = request.getfixturevalue(server_name)
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        stub = GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as closed:
            await stub.RepositoryModelUnload(
                pb.RepositoryModelUnloadRequest(model_name=server.model), metadata=tuple(server.auth.items())
            )
        assert closed.value.code() == grpc.StatusCode.NOT_FOUND
        ready = await stub.ModelReady(pb.ModelReadyRequest(name=server.model))
    assert ready.ready
    assert server.ready()

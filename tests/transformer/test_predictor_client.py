"""The REST v2 predictor client against a small stand-in HTTP server: encoding, decoding, failures.

The stand-in (an aiohttp server on a free loopback port) answers as a test tells it to, so the
client's handling of every answer can be checked exactly; the same client against the real
predictor process is exercised in test_scoring_http.py and test_outages.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from credit_scoring.errors import PredictorRejected, PredictorUnavailable
from credit_scoring.explain import ExplainRows
from credit_scoring.features import feature_names
from tests.servers import free_port
from transformer.predictor_client import RestPredictorClient

F = len(feature_names())
PARAMS = {"model_name": "credit-risk", "model_version": "3", "model_alias": "champion", "credit_policy": "{}"}
EXPLAIN = ExplainRows(margin_above=-0.5, rows=np.array([True, False]), for_version="3")
NOTHING = ExplainRows()
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _binary_answer(n: int, contributions: np.ndarray | None) -> web.Response:
    probability = np.linspace(0.1, 0.9, n)
    margin = np.log(probability / (1 - probability))
    tensors = [("probability", "FP64", [n], probability), ("margin", "FP64", [n], margin)]
    if contributions is not None:
        tensors.append(("contributions", "FP32", [n, F + 1], contributions.astype(np.float32)))
    blobs = [t[3].tobytes() for t in tensors]
    outputs = [
        {"name": name, "datatype": dt, "shape": shape, "parameters": {"binary_data_size": len(b)}}
        for (name, dt, shape, _), b in zip(tensors, blobs, strict=True)
    ]
    header = orjson.dumps(
        {"model_name": "credit-risk", "model_version": "3", "outputs": outputs, "parameters": PARAMS}
    )
    return web.Response(
        body=header + b"".join(blobs),
        headers={
            "inference-header-content-length": str(len(header)),
            "content-type": "application/octet-stream",
        },
    )


@pytest_asyncio.fixture(loop_scope="function")
async def predictor() -> AsyncIterator[Callable[[Handler], Awaitable[RestPredictorClient]]]:
    """``await predictor(handler)``: a server answering with ``handler`` and a client pointed at it."""
    servers: list[TestServer] = []
    clients: list[RestPredictorClient] = []

    async def make(handler: Handler, **kwargs: object) -> RestPredictorClient:
        app = web.Application()
        app.router.add_post("/v2/models/credit-risk/infer", handler)
        server = TestServer(app, host="127.0.0.1", port=free_port())
        await server.start_server()
        servers.append(server)
        client = RestPredictorClient(
            f"127.0.0.1:{server.port}",
            "credit-risk",
            timeout=kwargs.pop("timeout", 2.0),  # type: ignore[arg-type]
            connect_timeout=0.5,
            max_connections=4,
            **kwargs,  # type: ignore[arg-type]
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    for server in servers:
        await server.close()


async def test_binary_request_carries_nan_and_the_rows_to_explain(predictor):
    seen: dict[str, object] = {}
    matrix = np.arange(2 * F, dtype=np.float32).reshape(2, F)
    matrix[1, 3] = np.nan
    contributions = np.full((2, F + 1), np.nan)
    contributions[1] = np.arange(F + 1)

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen["request_id"] = request.headers.get("x-request-id")
        length = int(request.headers["inference-header-content-length"])
        seen["header"] = orjson.loads(body[:length])
        seen["matrix"] = np.frombuffer(body[length : length + 2 * F * 4], dtype=np.float32).reshape(2, F)
        seen["rows"] = np.frombuffer(body[length + 2 * F * 4 :], dtype=np.bool_)
        return _binary_answer(2, contributions)

    client = await predictor(handler)
    prediction = await client.infer(matrix, EXPLAIN, {"x-request-id": "r-9"})

    assert seen["request_id"] == "r-9"
    header = seen["header"]
    assert header["parameters"] == {  # type: ignore[index]
        "explain_margin_above": -0.5,
        "explain_for_version": "3",
        "binary_data_output": True,
    }
    assert [(i["name"], i["datatype"], i["shape"]) for i in header["inputs"]] == [  # type: ignore[index]
        ("features", "FP32", [2, F]),
        ("explain_rows", "BOOL", [2]),
    ]
    np.testing.assert_array_equal(seen["matrix"], matrix)  # NaN travels exactly
    assert seen["rows"].tolist() == [True, False]
    assert prediction.model_version == "3"
    assert prediction.model_alias == "champion"
    assert prediction.probability.dtype == np.float64
    assert prediction.probability.shape == (2,)
    assert prediction.contributions is not None
    assert np.isnan(prediction.contributions[0]).all()
    np.testing.assert_array_equal(prediction.contributions[1], np.arange(F + 1))


async def test_json_fallback_sends_null_for_missing_and_reads_json_outputs(predictor):
    async def handler(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        assert doc["inputs"][0]["data"][0] is None  # NaN as JSON null
        assert "parameters" not in doc  # nothing to explain, nothing asked
        return web.json_response(
            {
                "model_name": "credit-risk",
                "parameters": PARAMS,
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [1], "data": [0.25]},
                    {"name": "margin", "datatype": "FP64", "shape": [1], "data": [-1.0986]},
                ],
            }
        )

    matrix = np.zeros((1, F), dtype=np.float32)
    matrix[0, 0] = np.nan
    client = await predictor(handler, binary=False)
    prediction = await client.infer(matrix, NOTHING, {})
    assert prediction.probability.tolist() == [0.25]
    assert prediction.contributions is None


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_predictor_not_ready_is_unavailable(predictor, status):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": "Model with name credit-risk is not ready."}, status=status)

    client = await predictor(handler)
    with pytest.raises(PredictorUnavailable, match="not ready"):
        await client.infer(np.zeros((1, F), dtype=np.float32), NOTHING, {})


async def test_unreachable_predictor_is_unavailable():
    client = RestPredictorClient(
        f"127.0.0.1:{free_port()}", "credit-risk", timeout=2.0, connect_timeout=0.5, max_connections=2
    )
    try:
        with pytest.raises(PredictorUnavailable, match="unreachable"):
            await client.infer(np.zeros((1, F), dtype=np.float32), NOTHING, {})
        assert await client.ready() is False
    finally:
        await client.close()


async def test_slow_predictor_is_unavailable(predictor):
    import asyncio

    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return _binary_answer(1, None)

    client = await predictor(handler, timeout=0.3)
    with pytest.raises(PredictorUnavailable, match="in time"):
        await client.infer(np.zeros((1, F), dtype=np.float32), NOTHING, {})


async def test_predictor_refusing_our_request_is_a_bad_gateway_not_a_client_error(predictor):
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": "features: wrong shape"}, status=400)

    client = await predictor(handler)
    with pytest.raises(PredictorRejected, match="wrong shape") as caught:
        await client.infer(np.zeros((1, F), dtype=np.float32), NOTHING, {})
    assert caught.value.status_code == 502


async def test_answer_without_policy_or_rows_is_rejected(predictor):
    async def no_policy(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "model_name": "credit-risk",
                "parameters": {"model_version": "3"},
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [1], "data": [0.25]},
                    {"name": "margin", "datatype": "FP64", "shape": [1], "data": [-1.0986]},
                ],
            }
        )

    client = await predictor(no_policy)
    with pytest.raises(PredictorRejected, match="credit_policy"):
        await client.infer(np.zeros((1, F), dtype=np.float32), NOTHING, {})

    async def wrong_rows(request: web.Request) -> web.Response:
        return _binary_answer(3, None)

    client = await predictor(wrong_rows)
    with pytest.raises(PredictorRejected, match="2 rows"):
        await client.infer(np.zeros((2, F), dtype=np.float32), NOTHING, {})

"""The REST v2 predictor client against a fake transport: encoding, decoding, failures.

The same client against the real predictor process is exercised in test_scoring_http.py.
"""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest

from credit_scoring.errors import PredictorUnavailable
from credit_scoring.features import feature_names
from transformer.predictor_client import PredictorRejected, RestV2PredictorClient

F = len(feature_names())
PARAMS = {"model_name": "credit-risk", "model_version": "3", "model_alias": "champion", "credit_policy": "{}"}


def _binary_answer(n: int, contributions: np.ndarray | None) -> tuple[bytes, dict[str, str]]:
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
    return header + b"".join(blobs), {
        "inference-header-content-length": str(len(header)),
        "content-type": "application/octet-stream",
    }


def _client(handler, **kwargs) -> RestV2PredictorClient:
    return RestV2PredictorClient(
        "predictor:8080",
        "credit-risk",
        timeout=1.0,
        connect_timeout=0.5,
        max_connections=4,
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


async def test_binary_request_carries_nan_and_asks_for_adverse_contributions():
    seen: dict[str, object] = {}
    matrix = np.arange(2 * F, dtype=np.float32).reshape(2, F)
    matrix[1, 3] = np.nan
    contributions = np.full((2, F + 1), np.nan)
    contributions[1] = np.arange(F + 1)

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["headers"] = dict(request.headers)
        length = int(request.headers["inference-header-content-length"])
        seen["header"] = orjson.loads(request.content[:length])
        seen["matrix"] = np.frombuffer(request.content[length:], dtype=np.float32).reshape(2, F)
        body, headers = _binary_answer(2, contributions)
        return httpx.Response(200, content=body, headers=headers)

    client = _client(handler)
    prediction = await client.infer(matrix, "adverse", {"x-request-id": "r-9"})
    await client.close()

    assert seen["url"] == "http://predictor:8080/v2/models/credit-risk/infer"
    assert seen["headers"]["x-request-id"] == "r-9"  # type: ignore[index]
    header = seen["header"]
    assert header["parameters"]["pred_contribs"] == "adverse"  # type: ignore[index]
    assert header["inputs"][0]["name"] == "features"
    assert header["inputs"][0]["shape"] == [2, F]
    np.testing.assert_array_equal(seen["matrix"], matrix)  # NaN travels exactly
    assert prediction.model_version == "3"
    assert prediction.model_alias == "champion"
    assert prediction.probability.dtype == np.float64
    assert prediction.probability.shape == (2,)
    assert prediction.contributions is not None
    assert np.isnan(prediction.contributions[0]).all()
    np.testing.assert_array_equal(prediction.contributions[1], np.arange(F + 1))


async def test_json_fallback_sends_null_for_missing_and_reads_json_outputs():
    def handler(request: httpx.Request) -> httpx.Response:
        doc = orjson.loads(request.content)
        assert doc["inputs"][0]["data"][0] is None  # NaN as JSON null
        assert "pred_contribs" not in doc["parameters"]
        return httpx.Response(
            200,
            json={
                "model_name": "credit-risk",
                "outputs": [
                    {"name": "probability", "datatype": "FP64", "shape": [1], "data": [0.25]},
                    {"name": "margin", "datatype": "FP64", "shape": [1], "data": [-1.0986]},
                ],
                "parameters": PARAMS,
            },
        )

    matrix = np.zeros((1, F), dtype=np.float32)
    matrix[0, 0] = np.nan
    client = _client(handler, binary=False)
    prediction = await client.infer(matrix, "none", {})
    assert prediction.probability.tolist() == [0.25]
    assert prediction.contributions is None


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_predictor_not_ready_is_unavailable(status):
    client = _client(
        lambda r: httpx.Response(status, json={"error": "Model with name credit-risk is not ready."})
    )
    with pytest.raises(PredictorUnavailable, match="not ready"):
        await client.infer(np.zeros((1, F), dtype=np.float32), "adverse", {})


async def test_unreachable_predictor_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(PredictorUnavailable, match="unreachable"):
        await _client(handler).infer(np.zeros((1, F), dtype=np.float32), "adverse", {})


async def test_slow_predictor_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(PredictorUnavailable, match="in time"):
        await _client(handler).infer(np.zeros((1, F), dtype=np.float32), "adverse", {})


async def test_predictor_refusing_our_request_is_a_bad_gateway_not_a_client_error():
    client = _client(lambda r: httpx.Response(400, json={"error": "features: wrong shape"}))
    with pytest.raises(PredictorRejected, match="wrong shape") as caught:
        await client.infer(np.zeros((1, F), dtype=np.float32), "adverse", {})
    assert caught.value.status_code == 502


async def test_answer_without_policy_or_rows_is_rejected():
    def no_policy(request: httpx.Request) -> httpx.Response:
        body, headers = _binary_answer(1, None)
        length = int(headers["inference-header-content-length"])
        doc = orjson.loads(body[:length])
        doc["parameters"] = {"model_version": "3"}
        header = orjson.dumps(doc)
        headers["inference-header-content-length"] = str(len(header))
        return httpx.Response(200, content=header + body[length:], headers=headers)

    with pytest.raises(PredictorRejected, match="credit_policy"):
        await _client(no_policy).infer(np.zeros((1, F), dtype=np.float32), "adverse", {})

    def wrong_rows(request: httpx.Request) -> httpx.Response:
        body, headers = _binary_answer(3, None)
        return httpx.Response(200, content=body, headers=headers)

    with pytest.raises(PredictorRejected, match="2 rows"):
        await _client(wrong_rows).infer(np.zeros((2, F), dtype=np.float32), "adverse", {})

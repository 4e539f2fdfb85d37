"""The two scoring routes, ``POST /v1/models/{name}:predict`` and ``POST /v2/models/{name}/infer``.

They are ``serving.asgi.FastRoute`` handlers, answered ahead of KServe's FastAPI app: KServe's
generic routes would parse v2 bodies with FastAPI/pydantic (a second decoder with its own
errors), pass a wrong content type to the model as bytes, and re-serialise what they parsed.
Here the raw body goes to the model's hooks as a ``RawBody``; the model's one core decodes,
scores and answers (``transformer.model``), errors are rendered by ``serving.errors`` with the
request id, and each answer is counted in ``credit_http_requests_total``.
"""

from __future__ import annotations

from serving.asgi import FastRoute, HttpRequest, Reply
from serving.v2 import INFERENCE_HEADER
from transformer.model import CreditScoringModel
from transformer.payloads import RawBody

__all__ = ["scoring_routes"]

_INFERENCE_HEADER = INFERENCE_HEADER.encode()


def scoring_routes(model: CreditScoringModel) -> list[FastRoute]:
    async def v1(request: HttpRequest) -> Reply:
        body = RawBody("v1", request.body, request.header(b"content-type"))
        return Reply(await _call(model, body, request))

    async def v2(request: HttpRequest) -> Reply:
        body = RawBody("v2", request.body, request.header(b"content-type"), request.header(_INFERENCE_HEADER))
        return Reply(await _call(model, body, request))

    return [
        FastRoute(f"/v1/models/{model.name}:predict", v1),
        FastRoute(f"/v2/models/{model.name}/infer", v2),
    ]


async def _call(model: CreditScoringModel, body: RawBody, request: HttpRequest) -> bytes:
    # KServe's lifecycle (preprocess -> predict -> postprocess, timed by its histograms).
    answer, _ = await model(body, headers=request.text_headers())
    assert isinstance(answer, bytes)
    return answer

"""``serving.admission`` through ``serving.asgi.Router`` without a server: probes and ``/metrics``
open, model-repository routes and v1 explain closed, everything else through the guard; the
per-process concurrency limit sheds with 503 and ``Retry-After``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx
import pytest
from fastapi import FastAPI

from credit_scoring.errors import RateLimited, Unauthenticated
from serving.admission import closed_route, is_open
from serving.asgi import FastRoute, HttpRequest, Router
from serving.errors import Reply, install_error_handlers


def _guard(headers: Mapping[bytes, bytes]) -> None:
    if headers.get(b"x-api-key") == b"slow-client":
        raise RateLimited(7)
    if headers.get(b"x-api-key") != b"good":
        raise Unauthenticated()


def _app() -> FastAPI:
    app = FastAPI()
    for path in ("/v2/health/ready", "/metrics", "/v2/models/m/ready", "/v1/models/m", "/v2/models/m"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    app.add_api_route("/v2/repository/models/m/unload", lambda: {"unloaded": True}, methods=["POST"])
    install_error_handlers(app)
    return app


async def _ok(request: HttpRequest) -> Reply:
    return Reply(b"{}")


def _client(router: Router) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://test")


@pytest.mark.parametrize(
    ("method", "path", "open_"),
    [
        ("GET", "/", True),
        ("GET", "/v2/health/live", True),
        ("GET", "/v2/health/ready", True),
        ("GET", "/metrics", True),
        ("GET", "/v2/models/credit-scoring/ready", True),
        ("GET", "/v1/models/credit-scoring", True),
        ("POST", "/v2/health/ready", False),
        ("GET", "/v2/models/credit-scoring", False),
        ("GET", "/v1/models", False),
        ("GET", "/v1/models/credit-scoring:predict", False),
        ("GET", "/monitoring", False),
        ("GET", "/v2", False),
        ("GET", "/openapi.json", False),
        ("GET", "/v2/models/credit-scoring/versions/1/ready", True),
    ],
)
def test_only_probes_and_metrics_are_open(method: str, path: str, open_: bool):
    assert is_open(method, path) is open_


def test_repository_and_explain_are_closed():
    assert closed_route("/v2/repository/models/credit-risk/unload").status_code == 404
    assert closed_route("/v2/repository/index").status_code == 404
    assert closed_route("/v1/models/credit-scoring:explain").status_code == 501
    assert closed_route("/v2/models/credit-scoring/infer") is None


async def test_guard_refusals_carry_only_a_code_and_the_request_id():
    observed: list[tuple[str, int]] = []
    router = Router(
        _app(),
        routes=(FastRoute("/score", _ok),),
        guard=_guard,
        observe=lambda p, s, _: observed.append((p, s)),
    )
    async with _client(router) as client:
        none = await client.post("/score", headers={"x-request-id": "r-1"})
        wrong = await client.get("/v2/models/m", headers={"x-request-id": "r-2", "x-api-key": "bad"})
        limited = await client.post("/score", headers={"x-request-id": "r-3", "x-api-key": "slow-client"})
        good = await client.post("/score", headers={"x-api-key": "good"})
        probes = [await client.get(p) for p in ("/v2/health/ready", "/metrics", "/v2/models/m/ready")]
        closed = await client.post("/v2/repository/models/m/unload", headers={"x-request-id": "r-4"})
    assert (none.status_code, none.json()) == (
        401,
        {"error": "unauthenticated", "code": "unauthenticated", "request_id": "r-1"},
    )
    assert none.headers["www-authenticate"].startswith("Bearer")
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"error": "unauthenticated", "code": "unauthenticated", "request_id": "r-2"},
    )
    assert (limited.status_code, limited.json()) == (
        429,
        {"error": "rate_limited", "code": "rate_limited", "request_id": "r-3"},
    )
    assert limited.headers["retry-after"] == "7"
    assert good.status_code == 200
    assert [p.status_code for p in probes] == [200, 200, 200]
    assert closed.status_code == 404
    assert closed.json() == {"error": "not found: /v2/repository/models/m/unload", "request_id": "r-4"}
    # Refusals are counted; a path that is no fast route is counted as "unmatched" (bounded labels).
    assert observed == [
        ("/score", 401),
        ("unmatched", 401),
        ("/score", 429),
        ("/score", 200),
        ("unmatched", 404),
    ]


async def test_more_concurrent_requests_than_allowed_are_shed_with_503_and_retry_after():
    release = asyncio.Event()

    async def slow(request: HttpRequest) -> Reply:
        await release.wait()
        return Reply(b"{}")

    router = Router(_app(), routes=(FastRoute("/slow", slow),), max_in_flight=2)
    async with _client(router) as client:
        held = [asyncio.create_task(client.post("/slow")) for _ in range(2)]
        while router._in_flight < 2:
            await asyncio.sleep(0.01)
        shed = await client.post("/slow", headers={"x-request-id": "busy-1"})
        release.set()
        answered = await asyncio.gather(*held)
        after = await client.post("/slow")
    assert (shed.status_code, shed.json()) == (
        503,
        {"error": "overloaded", "code": "overloaded", "request_id": "busy-1"},
    )
    assert shed.headers["retry-after"] == "1"
    assert [r.status_code for r in answered] == [200, 200]
    assert after.status_code == 200

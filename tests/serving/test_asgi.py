"""``serving.asgi`` and ``serving.errors`` without a server: the fast-route layer, the request id,
and the one error renderer (every error body carries the request id, the 413 too)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from credit_scoring.errors import FeatureStoreUnavailable, FieldProblem, InvalidApplication
from serving.asgi import FastRoute, HttpRequest, Router
from serving.errors import Reply, error_body, install_error_handlers

HEX32 = re.compile(r"[0-9a-f]{32}")


async def _echo(request: HttpRequest) -> Reply:
    seen = request.headers.get(b"x-in", b"") + b"|" + request.request_id.encode()
    return Reply(request.body[::-1], headers=((b"x-seen", seen),))


async def _invalid(request: HttpRequest) -> Reply:
    raise InvalidApplication(
        [FieldProblem(0, "income", "must be finite"), FieldProblem(None, "inputs", "empty")]
    )


async def _down(request: HttpRequest) -> Reply:
    raise FeatureStoreUnavailable("redis is down")


async def _bug(request: HttpRequest) -> Reply:
    raise ZeroDivisionError("secret detail")


def _app() -> FastAPI:
    """A stand-in for KServe's app, with the platform's error handlers installed."""
    from kserve.errors import ModelNotReady

    app = FastAPI()

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/not-ready")
    async def not_ready() -> None:
        raise ModelNotReady("credit-risk")

    @app.post("/validated")
    async def validated(body: dict[str, int]) -> dict[str, int]:
        return body

    install_error_handlers(app)
    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    router = Router(
        _app(),
        routes=(
            FastRoute("/echo", _echo),
            FastRoute("/invalid", _invalid),
            FastRoute("/down", _down),
            FastRoute("/bug", _bug),
        ),
        max_body_bytes=100,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://test")


async def test_fast_route_answers_and_other_paths_reach_the_app(client):
    async with client:
        echoed = await client.post("/echo", content=b"abc", headers={"x-in": "1", "x-request-id": "r-1"})
        other = await client.get("/other", headers={"x-request-id": "r-2"})
        get_on_post_route = await client.get("/echo")
    assert (echoed.status_code, echoed.content, echoed.headers["x-seen"]) == (200, b"cba", "1|r-1")
    assert echoed.headers["x-request-id"] == "r-1"
    assert (other.status_code, other.json(), other.headers["x-request-id"]) == (200, {"ok": "yes"}, "r-2")
    assert get_on_post_route.status_code in (404, 405)  # only POST is routed: the app answers


async def test_an_unsafe_or_missing_request_id_is_replaced_everywhere(client):
    async with client:
        junk = await client.post("/echo", content=b"x", headers={"x-request-id": "<script>"})
        none = await client.get("/other")
    made = junk.headers["x-request-id"]
    assert HEX32.fullmatch(made)
    assert junk.headers["x-seen"] == f"|{made}"  # the handler saw the same, stamped id
    assert HEX32.fullmatch(none.headers["x-request-id"])


async def test_every_error_body_carries_the_request_id(client):
    headers = {"x-request-id": "err-1"}
    async with client:
        invalid = await client.post("/invalid", content=b"{}", headers=headers)
        down = await client.post("/down", content=b"{}", headers=headers)
        bug = await client.post("/bug", content=b"{}", headers=headers)
        big = await client.post("/echo", content=b"x" * 101, headers=headers)
        not_ready = await client.get("/not-ready", headers=headers)
        missing = await client.get("/nowhere", headers=headers)
        unvalidated = await client.post("/validated", json={"a": "x"}, headers=headers)
    assert invalid.status_code == 400
    assert invalid.json() == {
        "error": "instances[0].income: must be finite; inputs: empty",
        "request_id": "err-1",
        "problems": [
            {"index": 0, "field": "income", "message": "must be finite"},
            {"index": None, "field": "inputs", "message": "empty"},
        ],
    }
    assert (down.status_code, down.json()) == (503, {"error": "redis is down", "request_id": "err-1"})
    assert (bug.status_code, bug.json()) == (500, {"error": "internal server error", "request_id": "err-1"})
    assert "secret detail" not in bug.text
    assert big.status_code == 413
    assert big.json() == {"error": "payload_too_large", "code": "payload_too_large", "request_id": "err-1"}
    assert big.headers["x-request-id"] == "err-1"
    assert not_ready.status_code == 503
    assert not_ready.json() == {"error": "Model with name credit-risk is not ready.", "request_id": "err-1"}
    assert (missing.status_code, missing.json()["request_id"]) == (404, "err-1")
    # FastAPI's 422 for a body that fails validation is the platform's 400 with field problems.
    assert unvalidated.status_code == 400
    assert unvalidated.json()["request_id"] == "err-1"
    assert unvalidated.json()["problems"][0]["field"] == "a"


def test_error_body_caps_the_problem_list():
    exc = InvalidApplication([FieldProblem(i, "income", "bad") for i in range(80)])
    body = error_body(exc, "r")
    assert len(body["problems"]) == 50  # type: ignore[arg-type]
    assert "30 more problems" in str(body["error"])

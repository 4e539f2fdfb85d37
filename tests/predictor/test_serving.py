"""credit_scoring.serving without a server: the fast-route layer and the one error mapping."""

from __future__ import annotations

import httpx
import pytest

from credit_scoring.errors import FeatureStoreUnavailable, FieldProblem, InvalidApplication
from credit_scoring.serving import FastRoute, Reply, _FastRoutes, error_body


async def _inner(scope, receive, send):
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"inner"})


async def _echo(body, headers):
    return Reply(body[::-1], headers=((b"x-seen", headers.get(b"x-in", b"")),))


async def _invalid(body, headers):
    raise InvalidApplication(
        [FieldProblem(0, "income", "must be finite"), FieldProblem(None, "inputs", "empty")]
    )


async def _down(body, headers):
    raise FeatureStoreUnavailable("redis is down")


async def _bug(body, headers):
    raise ZeroDivisionError("secret detail")


@pytest.fixture
def client():
    app = _FastRoutes(
        _inner,
        routes=(
            FastRoute("/echo", _echo),
            FastRoute("/invalid", _invalid),
            FastRoute("/down", _down),
            FastRoute("/bug", _bug),
        ),
        max_body_bytes=100,
    )
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_fast_route_answers_and_other_paths_reach_the_app(client):
    async with client:
        echoed = await client.post("/echo", content=b"abc", headers={"x-in": "1"})
        other = await client.get("/echo")  # only POST is routed
        elsewhere = await client.post("/v2/health/ready")
    assert (echoed.status_code, echoed.content, echoed.headers["x-seen"]) == (200, b"cba", "1")
    assert (other.status_code, other.content) == (299, b"inner")
    assert elsewhere.status_code == 299


async def test_errors_map_to_status_with_field_level_problems(client):
    async with client:
        invalid = await client.post("/invalid", content=b"{}")
        down = await client.post("/down", content=b"{}")
        bug = await client.post("/bug", content=b"{}")
        big = await client.post("/echo", content=b"x" * 101)
    assert invalid.status_code == 400
    assert invalid.json() == {
        "error": "instances[0].income: must be finite; inputs: empty",
        "problems": [
            {"index": 0, "field": "income", "message": "must be finite"},
            {"index": None, "field": "inputs", "message": "empty"},
        ],
    }
    assert (down.status_code, down.json()) == (503, {"error": "redis is down"})
    assert bug.status_code == 500
    assert "secret detail" not in bug.text
    assert big.status_code == 413


def test_error_body_caps_the_problem_list():
    exc = InvalidApplication([FieldProblem(i, "income", "bad") for i in range(80)])
    body = error_body(exc)
    assert len(body["problems"]) == 50
    assert "30 more problems" in body["error"]

"""The outermost ASGI layer of both servers: request id, admission, limits, and the fast routes.

Every HTTP request passes here first. It gets its request id (``serving.context``) written into
its headers and echoed in the ``x-request-id`` response header. Then admission
(``serving.admission``): a closed route answers 404/501, a probe or ``/metrics`` goes on, and
every other request passes the server's ``guard`` (API key, rate limit) or is refused with its
error. A fast route beyond ``max_in_flight`` concurrent requests is shed with 503 and
``Retry-After``. A hot path (``FastRoute``, e.g.
``POST /v2/models/credit-risk/infer``) is answered here from the raw body, skipping FastAPI's
per-request validation and middleware; everything else goes on to KServe's app. A fast route's
body larger than ``max_body_bytes`` is refused with 413 before it is read, and a fast route's
errors are rendered by ``serving.errors`` like every other error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credit_scoring.errors import CreditScoringError, Overloaded, PayloadTooLarge
from serving.admission import Guard, closed_route, is_open
from serving.context import REQUEST_ID_HEADER, request_id_from
from serving.errors import HttpError, Reply, error_reply

__all__ = ["FastRoute", "HttpRequest", "Reply", "Router"]

logger = logging.getLogger(__name__)

_REQUEST_ID = REQUEST_ID_HEADER.encode()


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What a fast route handler gets: the whole body, the headers (lower-case names, as bytes)
    and the request id."""

    body: bytes
    headers: Mapping[bytes, bytes]
    request_id: str

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def text_headers(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers.items()}


Handler = Callable[[HttpRequest], Awaitable[Reply]]
Observer = Callable[[str, int, float], None]
"""Called after each fast-route answer with (path, status, seconds)."""


@dataclass(frozen=True)
class FastRoute:
    """``POST path`` answered by ``handler(request)``; it raises ``CreditScoringError`` for bad
    input or unavailable dependencies, anything else becomes a logged 500."""

    path: str
    handler: Handler
    method: str = "POST"


@dataclass
class Router:
    app: Any
    routes: Sequence[FastRoute] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    observe: Observer | None = None
    guard: Guard | None = None
    max_in_flight: int = 0
    """Fast-route requests served at once at most (0: no limit); more are shed with 503."""
    _table: dict[tuple[str, str], Handler] = field(default_factory=dict, init=False)
    _in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._table = {(r.method, r.path): r.handler for r in self.routes}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _stamp_request_id(scope)
        refused = self._admit(scope)
        if refused is not None:
            await _send(send, error_reply(refused, request_id), request_id)
            if self.observe is not None:
                # Refusals (401, 429, closed routes) counted too, by a bounded label: a caller
                # must not be able to mint one time series per made-up path.
                known = (scope["method"], scope["path"]) in self._table
                self.observe(scope["path"] if known else "unmatched", refused.status_code, 0.0)
            return
        handler = self._table.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, _echo_request_id(send, request_id))
            return
        started = time.perf_counter()
        if self.max_in_flight and self._in_flight >= self.max_in_flight:
            reply: Reply | None = error_reply(Overloaded(), request_id)
        else:
            self._in_flight += 1
            try:
                reply = await self._answer(handler, scope, receive, request_id)
            finally:
                self._in_flight -= 1
        if reply is None:  # the client went away
            return
        await _send(send, reply, request_id)
        if self.observe is not None:
            self.observe(scope["path"], reply.status, time.perf_counter() - started)

    def _admit(self, scope: dict[str, Any]) -> CreditScoringError | None:
        """The error refusing this request, or None to serve it."""
        path: str = scope["path"]
        closed = closed_route(path)
        if closed is not None:
            return closed
        if self.guard is None or is_open(scope["method"], path):
            return None
        try:
            self.guard(dict(scope["headers"]))
        except CreditScoringError as exc:
            return exc
        return None

    async def _answer(
        self, handler: Handler, scope: dict[str, Any], receive: Any, request_id: str
    ) -> Reply | None:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return error_reply(PayloadTooLarge(), request_id)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            return await handler(HttpRequest(body, dict(scope["headers"]), request_id))
        except CreditScoringError as exc:
            return error_reply(exc, request_id)
        except Exception:
            logger.exception("request_id=%s unexpected error answering %s", request_id, scope["path"])
            return error_reply(HttpError("internal server error", 500), request_id)


def _stamp_request_id(scope: dict[str, Any]) -> str:
    """The request's id, written into its headers so every later reader sees the same one."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for i, (name, value) in enumerate(headers):
        if name == _REQUEST_ID:
            given = value.decode("latin-1")
            request_id = request_id_from(given)
            if request_id != given:
                headers = list(headers)
                headers[i] = (_REQUEST_ID, request_id.encode())
                scope["headers"] = headers
            return request_id
    request_id = request_id_from(None)
    scope["headers"] = [*headers, (_REQUEST_ID, request_id.encode())]
    return request_id


def _echo_request_id(send: Any, request_id: str) -> Any:
    stamp = (_REQUEST_ID, request_id.encode())

    async def send_with_id(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), stamp]
        await send(message)

    return send_with_id


async def _send(send: Any, reply: Reply, request_id: str) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode()),
        (_REQUEST_ID, request_id.encode()),
        *reply.headers,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})

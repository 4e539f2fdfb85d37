"""The request id: one rule, applied once per request at the edge of each server.

Every HTTP request gets its id in ``serving.asgi.Router`` before any route sees it (the caller's
``x-request-id`` when it is a plain token, else a fresh one), so the fast routes, KServe's
routes, the model hooks, the error bodies and the logs all read the same id from the headers.
gRPC calls carry it in their metadata and get it from ``request_id_from`` in the model hook.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

__all__ = ["REQUEST_ID_HEADER", "RequestContext", "request_id_from"]

REQUEST_ID_HEADER = "x-request-id"
# It ends up in logs, the inference log and response headers: letters, digits and ._:- only.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(given: str | None) -> str:
    """The caller's id when it is a sane token, else a new one (32 hex digits)."""
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


@dataclass(frozen=True)
class RequestContext:
    """Per request, whatever the transport: its id, when it started, what may travel downstream."""

    request_id: str
    started: float
    forward: dict[str, str] = field(default_factory=dict)
    """Allow-listed headers for the next hop (tracing and correlation), the request id included."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None, forward: Collection[str] = ()) -> RequestContext:
        """From HTTP headers (already stamped by ``serving.asgi``) or gRPC metadata."""
        headers = headers or {}
        request_id = request_id_from(headers.get(REQUEST_ID_HEADER))
        passed = {k: v for k, v in headers.items() if k in forward}
        passed[REQUEST_ID_HEADER] = request_id
        return cls(request_id, time.perf_counter(), passed)

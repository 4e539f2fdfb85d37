"""The two scoring routes, ``POST /v1/models/{name}:predict`` and ``POST /v2/models/{name}/infer``.

They are ``credit_scoring.serving.FastRoute`` handlers: raw body in, complete reply out, ahead of
KServe's FastAPI app. KServe's generic routes would parse v2 bodies with FastAPI/pydantic (a
malformed body becomes a 422 in FastAPI's own format), pass a wrong content type to the model as
bytes, and turn anything the model raises that KServe does not know into a 500. Here every body is
decoded by ``transformer.payloads`` (every problem a 4xx naming it), the model's KServe hooks run
as usual (so KServe's ``request_*_seconds`` histograms still time them), and the answer is
rendered once with orjson. Errors become HTTP through ``credit_scoring.serving.error_body``, the
platform's one mapping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson

from credit_scoring.errors import CreditScoringError, FieldProblem, InvalidApplication, ModelNotReady
from credit_scoring.serving import FastRoute, Reply, error_body
from transformer import metrics
from transformer.model import CreditScoringModel, ScoringResult
from transformer.payloads import ScoringRequest, decode_v1, decode_v2, request_id_from
from transformer.rendering import v1_body, v2_body

__all__ = ["ScoringRoutes", "validation_error_handler"]

log = logging.getLogger("transformer.access")


class ScoringRoutes:
    def __init__(self, model: CreditScoringModel) -> None:
        self.model = model
        self.v1_path = f"/v1/models/{model.name}:predict"
        self.v2_path = f"/v2/models/{model.name}/infer"

    def routes(self) -> list[FastRoute]:
        return [FastRoute(self.v1_path, self.v1), FastRoute(self.v2_path, self.v2)]

    async def v1(self, body: bytes, raw_headers: Mapping[bytes, bytes]) -> Reply:
        return await self._score(body, raw_headers, "v1")

    async def v2(self, body: bytes, raw_headers: Mapping[bytes, bytes]) -> Reply:
        return await self._score(body, raw_headers, "v2")

    async def _score(self, body: bytes, raw_headers: Mapping[bytes, bytes], protocol: str) -> Reply:
        started = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers.items()}
        request_id = request_id_from(headers)
        headers["x-request-id"] = request_id
        reply_headers = ((b"x-request-id", request_id.encode()),)
        route = self.v1_path if protocol == "v1" else self.v2_path
        status, count = 500, 0
        try:
            if not self.model.ready:
                raise ModelNotReady(f"model {self.model.name} is not ready")
            max_batch = self.model.max_batch
            parsed: ScoringRequest = (
                decode_v1(body, headers.get("content-type"), max_batch)
                if protocol == "v1"
                else decode_v2(body, headers, max_batch)
            )
            count = len(parsed.applications)
            result, _ = await self.model(parsed, headers=headers)
            assert isinstance(result, ScoringResult)
            status = 200
            return Reply(self._render(result, protocol), headers=reply_headers)
        except CreditScoringError as exc:
            status = exc.status_code
            if status >= 500:
                log.warning("request_id=%s %s failed: %s", request_id, protocol, exc)
            return Reply(
                orjson.dumps({**error_body(exc), "request_id": request_id}),
                status=status,
                headers=reply_headers,
            )
        finally:
            elapsed = time.perf_counter() - started
            metrics.HTTP_REQUESTS.labels(route=route, status=str(status)).inc()
            metrics.HTTP_DURATION.labels(route=route).observe(elapsed)
            # Request id, size, status and latency only: never applicant data.
            log.info(
                "request_id=%s protocol=%s status=%d applications=%d latency_ms=%.2f",
                request_id,
                protocol,
                status,
                count,
                elapsed * 1000,
            )

    def _render(self, result: ScoringResult, protocol: str) -> bytes:
        if protocol == "v1":
            return v1_body(result.answers)
        return v2_body(
            self.model.name,
            result.answers,
            response_id=result.request.request_id or result.request_id,
            model_version=result.model_version,
            request_id=result.request_id,
        )


async def validation_error_handler(request: Any, exc: Exception) -> Any:
    """FastAPI's body validation on KServe's remaining routes (e.g. ``/versions/{v}/infer``): a 400
    with field problems in the platform's format, not FastAPI's 422."""
    from starlette.responses import Response

    errors = exc.errors() if hasattr(exc, "errors") else []
    problems = [_field_problem(e) for e in errors] or [FieldProblem(None, "body", "is not a valid request")]
    error = InvalidApplication(problems)
    return Response(
        orjson.dumps(error_body(error)), status_code=error.status_code, media_type="application/json"
    )


def _field_problem(error: dict[str, Any]) -> FieldProblem:
    loc = [p for p in error.get("loc", ()) if p != "body"]
    names = [str(p) for p in loc if not isinstance(p, int)]
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid" and loc and isinstance(loc[-1], int):
        message = f"{message} at character {loc[-1]}"  # FastAPI puts the offset where a field goes
        names = []
    return FieldProblem(None, ".".join(names) or "body", message)

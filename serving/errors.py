"""Errors to HTTP and gRPC: the one place that renders them, for every route of both servers.

An error body is always ``{"error": message, "request_id": id}``, plus ``problems``
(``[{index, field, message}]``, at most ``MAX_PROBLEMS``) for bad input. The fast routes
(``serving.asgi``), KServe's FastAPI routes (the handlers installed here, which also replace
KServe's own: a 422 for a malformed body becomes our 400, a 404 or a not-ready model gets the
same body) and gRPC (``grpc_interceptor``: 400 -> INVALID_ARGUMENT, 503 -> UNAVAILABLE ...) all
go through ``error_body``. Anything unexpected is a logged 500 with a generic message, never a
stack trace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from credit_scoring.errors import MAX_PROBLEMS, CreditScoringError, FieldProblem, InvalidApplication
from serving.context import REQUEST_ID_HEADER, request_id_from

__all__ = [
    "HttpError",
    "Reply",
    "error_body",
    "error_headers",
    "error_reply",
    "grpc_code",
    "grpc_interceptor",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)


class HttpError(CreditScoringError):
    """An error KServe or the web framework raised, with the status it stands for."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer from a fast route."""

    body: bytes
    status: int = 200
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()


def error_body(exc: CreditScoringError, request_id: str) -> dict[str, object]:
    """The JSON body for an error: ``error`` (KServe's key), ``request_id``, ``code`` when the
    error has one, field ``problems``."""
    body: dict[str, object] = {"error": str(exc), "request_id": request_id}
    if exc.code is not None:
        body["code"] = exc.code
    if isinstance(exc, InvalidApplication):
        body["problems"] = [p.as_dict() for p in exc.problems[:MAX_PROBLEMS]]
    return body


def error_headers(exc: CreditScoringError) -> tuple[tuple[bytes, bytes], ...]:
    """``Retry-After`` for 429 and shed 503s; ``WWW-Authenticate`` for 401 (RFC 9110)."""
    headers: list[tuple[bytes, bytes]] = []
    if exc.retry_after_seconds is not None:
        headers.append((b"retry-after", str(exc.retry_after_seconds).encode()))
    if exc.status_code == HTTPStatus.UNAUTHORIZED:
        headers.append((b"www-authenticate", b'Bearer realm="credit-scoring"'))
    return tuple(headers)


def error_reply(exc: CreditScoringError, request_id: str) -> Reply:
    if exc.status_code >= 500:
        logger.warning("request_id=%s %s: %s", request_id, type(exc).__name__, exc)
    return Reply(
        orjson.dumps(error_body(exc, request_id)), status=exc.status_code, headers=error_headers(exc)
    )


# --------------------------------------------------------------------------- FastAPI (KServe's app)
def _kserve_statuses() -> dict[type[BaseException], int]:
    from kserve import errors as k

    return {
        k.InvalidInput: HTTPStatus.BAD_REQUEST,
        k.ModelNotFound: HTTPStatus.NOT_FOUND,
        k.ModelNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
        k.ServerNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
        k.ServerNotLive: HTTPStatus.SERVICE_UNAVAILABLE,
        k.UnsupportedProtocol: HTTPStatus.NOT_IMPLEMENTED,
        NotImplementedError: HTTPStatus.NOT_IMPLEMENTED,
    }


def _platform_error(exc: BaseException, statuses: dict[type[BaseException], int]) -> CreditScoringError:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    if isinstance(exc, CreditScoringError):
        return exc
    if isinstance(exc, RequestValidationError):
        problems = [_field_problem(e) for e in exc.errors()]
        return InvalidApplication(problems or [FieldProblem(None, "body", "is not a valid request")])
    if isinstance(exc, HTTPException):
        return HttpError(str(exc.detail), exc.status_code)
    for kind, status in statuses.items():
        if isinstance(exc, kind):
            if status == HTTPStatus.BAD_REQUEST:
                return InvalidApplication([FieldProblem(None, "body", str(exc))])
            return HttpError(str(exc), status)
    logger.error("unexpected %s", type(exc).__name__, exc_info=exc)
    return HttpError("internal server error", HTTPStatus.INTERNAL_SERVER_ERROR)


def _field_problem(error: Any) -> FieldProblem:
    loc = [p for p in error.get("loc", ()) if p != "body"]
    names = [str(p) for p in loc if not isinstance(p, int)]
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid" and loc and isinstance(loc[-1], int):
        message = f"{message} at character {loc[-1]}"  # FastAPI puts the offset where a field goes
        names = []
    return FieldProblem(None, ".".join(names) or "body", message)


def install_error_handlers(app: Any) -> None:
    """Render every error of KServe's FastAPI app with ``error_body`` (replacing KServe's handlers,
    which answer without a request id and log a traceback for each not-ready probe)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.responses import Response

    statuses = _kserve_statuses()

    async def handler(request: Any, exc: Exception) -> Any:
        error = _platform_error(exc, statuses)
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        if error.status_code >= 500 and error.status_code != HTTPStatus.SERVICE_UNAVAILABLE:
            logger.warning("request_id=%s %s %s: %s", request_id, request.method, request.url.path, error)
        return Response(
            orjson.dumps(error_body(error, request_id)),
            status_code=error.status_code,
            media_type="application/json",
            headers={k.decode(): v.decode() for k, v in error_headers(error)},
        )

    for kind in (CreditScoringError, RequestValidationError, HTTPException, *statuses, Exception):
        app.add_exception_handler(kind, handler)


# --------------------------------------------------------------------------- gRPC
def grpc_code(status: int) -> Any:
    """The gRPC status code for an HTTP status of our error tree (INTERNAL for the unexpected)."""
    import grpc

    codes = {
        HTTPStatus.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE: grpc.StatusCode.INVALID_ARGUMENT,
        HTTPStatus.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
        HTTPStatus.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
        HTTPStatus.NOT_IMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
        HTTPStatus.TOO_MANY_REQUESTS: grpc.StatusCode.RESOURCE_EXHAUSTED,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
        HTTPStatus.SERVICE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    }
    return codes.get(HTTPStatus(status), grpc.StatusCode.INTERNAL)


def grpc_interceptor() -> Any:
    """Our error tree first (400 -> INVALID_ARGUMENT, 503 -> UNAVAILABLE ...), then KServe's."""
    import grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor

    class CreditErrorInterceptor(ExceptionToStatusInterceptor):
        async def handle_exception(
            self, ex: Exception, request_or_iterator: Any, context: Any, method_name: str
        ) -> None:
            if isinstance(ex, CreditScoringError):
                code = grpc_code(ex.status_code)
                if code is grpc.StatusCode.INTERNAL:
                    logger.error("%s in %s", type(ex).__name__, method_name, exc_info=ex)
                await context.abort(code, str(ex))
            await super().handle_exception(ex, request_or_iterator, context, method_name)

    return CreditErrorInterceptor()

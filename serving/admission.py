"""Who may call which route, decided once per request at the edge of each server.

Three kinds of route: *open* (probes and ``/metrics``: GET, never authenticated, so kubelet and
Prometheus need no credential), *closed* (KServe's model-repository extension, which would let
any caller that reaches the Service unload the model; and the v1 ``:explain`` verb, which this
platform does not serve), and everything else, which passes the server's ``Guard`` (the
transformer's API keys and rate limit; the predictor has none: NetworkPolicies keep it private).
``serving.asgi.Router`` applies this to HTTP, ``grpc_admission`` to gRPC; refusals are typed
errors rendered by ``serving.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from credit_scoring.errors import CreditScoringError, NotServed, RouteClosed

__all__ = ["Guard", "closed_route", "grpc_admission", "is_open"]

Guard = Callable[[Mapping[bytes, bytes]], None]
"""Called with a request's headers (lower-case names, bytes); raises ``CreditScoringError`` to
refuse it (401, 429)."""

_OPEN_PATHS = frozenset({"/", "/v2/health/live", "/v2/health/ready", "/metrics"})
_GRPC_SERVICE = "/inference.GRPCInferenceService/"
_GRPC_OPEN = frozenset({"ServerLive", "ServerReady", "ModelReady"})
_GRPC_CLOSED = frozenset({"RepositoryModelLoad", "RepositoryModelUnload", "RepositoryIndex"})


def is_open(method: str, path: str) -> bool:
    """Liveness, readiness (server and model, v1 and v2) and ``/metrics``: GET/HEAD, no credential."""
    if method not in ("GET", "HEAD"):
        return False
    if path in _OPEN_PATHS:
        return True
    if path.startswith("/v2/models/") and path.endswith("/ready"):
        return True
    # GET /v1/models/<name> is KServe's v1 model readiness.
    rest = path.removeprefix("/v1/models/")
    return rest != path and rest != "" and "/" not in rest and ":" not in rest


def closed_route(path: str) -> CreditScoringError | None:
    """The error a closed route answers with, or None when the route is served."""
    if path.startswith("/v2/repository"):
        return RouteClosed(path)
    if path.startswith("/v1/models/") and path.endswith(":explain"):
        return NotServed(
            "explain is not served: every answer carries its adverse-action reasons, and the "
            "full contribution breakdown is the predictor's pred_contribs (docs/serving.md)"
        )
    return None


def grpc_admission(guard: Guard | None) -> Any:
    """A gRPC server interceptor with the HTTP rules: repository RPCs closed (NOT_FOUND), health
    and model readiness open, every other call through ``guard`` (metadata as headers)."""
    import grpc

    from serving.errors import grpc_code

    def refuse(error: CreditScoringError) -> Any:
        async def abort(request: Any, context: Any) -> None:
            await context.abort(grpc_code(error.status_code), str(error))

        return grpc.unary_unary_rpc_method_handler(abort)

    class Admission(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            method = str(details.method)
            name = method.removeprefix(_GRPC_SERVICE)
            if name in _GRPC_CLOSED:
                return refuse(RouteClosed(method))
            if guard is not None and name not in _GRPC_OPEN:
                headers = {
                    str(k).lower().encode(): v if isinstance(v, bytes) else str(v).encode()
                    for k, v in details.invocation_metadata or ()
                }
                try:
                    guard(headers)
                except CreditScoringError as exc:
                    return refuse(exc)
            return await continuation(details)

    return Admission()

"""Run a ``kserve.ModelServer`` the way our servers need it.

kserve 0.21's ``ModelServer`` binds REST to ``0.0.0.0`` and gRPC to ``[::]`` with no way to change
it, only registers models that are already ready, answers server readiness "true" regardless of
the models, and cannot put a raw ASGI layer in front of its FastAPI app. The local stack runs
several servers side by side on ``127.0.0.1`` and our models start *not ready* (they load from the
registry in the background), so ``serve`` runs KServe's servers through small subclasses.

Those subclasses reach into KServe's attributes listed in ``KSERVE_INTERNALS``; the test
``tests/serving/test_kserve_pins.py`` checks each of them against the installed KServe, which
must be ``KSERVE_VERSION``: an upgrade fails there, loudly, before anything is served.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import Gauge

from serving.admission import Guard, grpc_admission
from serving.asgi import FastRoute, Observer, Router
from serving.errors import grpc_interceptor, install_error_handlers
from serving.settings import ServerOptions

__all__ = ["KSERVE_INTERNALS", "KSERVE_VERSION", "configure_logging", "freeze_startup_heap", "serve"]

logger = logging.getLogger(__name__)

KSERVE_VERSION = "0.21.0"
# (module:object, attribute, where): what the subclasses below (and serving.v2.kserve) use of
# KServe beyond its documented API. "class": a class attribute or method; "instance": set by
# __init__ (checked on an instance); "signature": the parameters we call or override with.
KSERVE_INTERNALS: tuple[tuple[str, str, str], ...] = (
    ("kserve.model_server:ModelServer", "_rest_server", "instance"),
    ("kserve.model_server:ModelServer", "_grpc_server", "instance"),
    ("kserve.model_server:ModelServer", "servers", "instance"),
    ("kserve.model_server:ModelServer", "registered_models", "instance"),
    ("kserve.model_server:ModelServer", "model_repository_extension", "instance"),
    ("kserve.model_server:ModelServer", "__init__", "signature"),
    ("kserve.model_server:ModelServer", "register_model", "class"),
    ("kserve.model_server", "app", "module"),
    ("kserve.model_server", "parser", "module"),
    ("kserve.constants.constants", "FASTAPI_APP_IMPORT_STRING", "module"),
    ("kserve.protocol.rest.server:RESTServer", "config", "instance"),
    ("kserve.protocol.rest.server:RESTServer", "_server", "instance"),
    ("kserve.protocol.rest.server:RESTServer", "create_application", "class"),
    ("kserve.protocol.rest.server:RESTServer", "__init__", "signature"),
    ("kserve.protocol.grpc.server:GRPCServer", "_data_plane", "instance"),
    ("kserve.protocol.grpc.server:GRPCServer", "_model_repository_extension", "instance"),
    ("kserve.protocol.grpc.server:GRPCServer", "_server", "instance"),
    ("kserve.protocol.grpc.server:GRPCServer", "__init__", "signature"),
    ("kserve.protocol.grpc.servicer:InferenceServicer", "__init__", "signature"),
    ("kserve.protocol.grpc.servicer:InferenceServicer", "ModelMetadata", "signature"),
    ("kserve.protocol.grpc.interceptors:ExceptionToStatusInterceptor", "handle_exception", "signature"),
    ("kserve.protocol.dataplane:DataPlane", "model_registry", "instance"),
    ("kserve.protocol.dataplane:DataPlane", "get_model_from_registry", "class"),
    ("kserve.protocol.infer_type:InferInput", "_raw_data", "instance"),
)

_OUR_LOGGERS = ("credit_scoring", "serving", "predictor", "transformer", "monitoring", "training")
_FROZEN_OBJECTS = Gauge(
    "credit_gc_frozen_objects",
    "Objects alive at start-up that the garbage collector no longer traverses (gc.freeze)",
)


class _SecondFormatter(logging.Formatter):
    """``logging.Formatter`` with the date part formatted once per second: the access log writes
    a line per request, and ``strftime`` of the same second for each was a visible share of the
    transformer's CPU. The text is the same (the date format has no sub-second field; the
    milliseconds come from ``%(msecs)``)."""

    _last: tuple[int, str | None, str] = (-1, None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        last = self._last
        if last[0] == second and last[1] == datefmt:
            return last[2]
        text = super().formatTime(record, datefmt)
        self._last = (second, datefmt, text)
        return text


def configure_logging(log_config_file: str | None = None) -> None:
    """KServe's log format for kserve/uvicorn, and the same handler for our own packages."""
    from kserve import logging as kserve_logging

    kserve_logging.configure_logging(log_config_file)
    handler = logging.StreamHandler()
    handler.setFormatter(
        _SecondFormatter(kserve_logging.KSERVE_LOGGER_FORMAT, kserve_logging.KSERVE_LOGGER_DATE_FORMAT)
    )
    for name in _OUR_LOGGERS:
        log = logging.getLogger(name)
        if not log.handlers:
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.propagate = False


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _model_server_class() -> Any:
    """Subclasses of kserve's classes, built lazily because importing kserve parses sys.argv."""
    from grpc import aio
    from kserve import ModelServer
    from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.server import GRPCServer
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.rest.server import RESTServer

    class ReadinessDataPlane(DataPlane):
        """Server readiness is "every registered model is ready" (KServe answers True regardless)."""

        async def ready(self) -> bool:
            if not await super().ready():
                return False
            models = self.model_registry.get_models()
            return bool(models) and all([await self.model_registry.is_model_ready(n) for n in models])

        async def model_metadata(self, model_name: str) -> dict[str, Any]:
            metadata: dict[str, Any] = await super().model_metadata(model_name)
            model = self.get_model_from_registry(model_name)
            metadata["platform"] = getattr(model, "platform", "") or ""
            versions = getattr(model, "served_versions", None)
            if callable(versions):
                metadata["versions"] = versions()
            return metadata

    class BoundRESTServer(RESTServer):
        def __init__(
            self,
            options: ServerOptions,
            routes: Sequence[FastRoute],
            observe: Observer | None,
            guard: Guard | None,
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self.config.host = options.bind_address
            if not options.access_log:
                # uvicorn decides per connection from the logger's handlers, not from config.
                access = logging.getLogger("uvicorn.access")
                access.handlers = []
                access.propagate = False
            self._options = options
            self._routes = routes
            self._observe = observe
            self._guard = guard

        def create_application(self) -> None:
            from kserve import model_server

            super().create_application()
            app = model_server.app
            install_error_handlers(app)
            # Outermost, so the hot paths skip FastAPI's middleware stack entirely; uvicorn
            # loads this object instead of the import string it was configured with.
            self.config.app = Router(
                app,
                routes=tuple(self._routes),
                max_body_bytes=self._options.max_body_bytes,
                observe=self._observe,
                guard=self._guard,
                max_in_flight=self._options.max_in_flight,
            )

    class VersionedServicer(InferenceServicer):
        """KServe's servicer, whose ``ModelMetadata`` also lists the versions served, as the REST
        metadata does (KServe's own drops them): the split router's salt over gRPC."""

        def __init__(self, data_plane: DataPlane, repository: Any) -> None:
            super().__init__(data_plane, repository)
            self._plane = data_plane

        async def ModelMetadata(self, request: Any, context: Any) -> Any:
            response = await super().ModelMetadata(request, context)
            metadata = await self._plane.model_metadata(request.name)
            response.versions.extend(str(v) for v in metadata.get("versions") or ())
            return response

    class BoundGRPCServer(GRPCServer):
        def __init__(self, options: ServerOptions, guard: Guard | None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._options = options
            self._guard = guard

        async def start(self, max_workers: int) -> None:
            servicer = VersionedServicer(self._data_plane, self._model_repository_extension)
            # No per-call INFO log interceptor: at thousands of calls per second it costs more
            # than the inference itself.
            self._server = aio.server(
                concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
                # Admission first: a refused call never reaches the servicer.
                interceptors=(grpc_admission(self._guard), grpc_interceptor()),
                options=[
                    ("grpc.max_send_message_length", self._options.grpc_max_send_bytes),
                    ("grpc.max_receive_message_length", self._options.grpc_max_receive_bytes),
                ],
            )
            grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
            address = _grpc_address(self._options.bind_address, self._options.grpc_port)
            self._server.add_insecure_port(address)
            logger.info("gRPC server listening on %s", address)
            await self._server.start()
            await self._server.wait_for_termination()

    class CreditModelServer(ModelServer):
        def __init__(
            self,
            options: ServerOptions,
            routes: Sequence[FastRoute],
            observe: Observer | None,
            guard: Guard | None = None,
        ) -> None:
            super().__init__(
                http_port=options.http_port,
                grpc_port=options.grpc_port,
                workers=1,
                max_threads=options.grpc_max_threads,
                max_asyncio_workers=options.max_asyncio_workers,
                enable_grpc=options.enable_grpc,
                enable_docs_url=options.enable_docs_url,
                enable_latency_logging=options.enable_latency_logging,
                access_log_format=None,
                event_loop=options.event_loop,
                timeout_keep_alive=options.timeout_keep_alive,
                grace_period=options.grace_period,
                ssl_certfile=options.ssl_certfile,
                ssl_keyfile=options.ssl_keyfile,
            )
            self.dataplane = ReadinessDataPlane(model_registry=self.registered_models)
            self._options = options
            self._routes = routes
            self._observe = observe
            self._guard = guard
            self._models: list[Any] = []
            self._shutdown_task: asyncio.Future[None] | None = None

        def start(self, models: list[Any]) -> None:
            # Unlike ModelServer.start, register models that are not ready yet: they load in the
            # background and report readiness through /v2/health/ready and /v2/models/x/ready.
            for model in models:
                self.register_model(model)
                model.enable_latency_logging = self.enable_latency_logging
                model.start()
            self._models = list(models)
            self._rest_server = BoundRESTServer(
                self._options,
                self._routes,
                self._observe,
                self._guard,
                app=FASTAPI_APP_IMPORT_STRING,
                data_plane=self.dataplane,
                model_repository_extension=self.model_repository_extension,
                http_port=self.http_port,
                workers=1,
                grace_period=self.grace_period,
                event_loop=self.event_loop,
                timeout_keep_alive=self.timeout_keep_alive,
                ssl_certfile=self.ssl_certfile,
                ssl_keyfile=self.ssl_keyfile,
            )
            self.servers.append(self._rest_server.start())
            if self.enable_grpc:
                self._grpc_server = BoundGRPCServer(
                    self._options,
                    self._guard,
                    port=self.grpc_port,
                    data_plane=self.dataplane,
                    model_repository_extension=self.model_repository_extension,
                    kwargs={},
                    grace_period=self.grace_period,
                )
                self.servers.append(self._grpc_server.start(self.max_threads))
            _run(self._main(), self._options.event_loop)

        async def _main(self) -> None:
            loop = asyncio.get_running_loop()
            workers = self.max_asyncio_workers or 4
            loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=workers))
            # uvicorn captures SIGTERM/SIGINT while it serves, drains HTTP, then re-raises the
            # signal to the handler installed here, which drains gRPC and stops the models.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda s, _f: loop.call_soon_threadsafe(self._begin_shutdown, s))
            await asyncio.gather(*self.servers)

        def _begin_shutdown(self, sig: int) -> None:
            logger.info("received signal %s: shutting down", signal.Signals(sig).name)
            if self._rest_server is not None:
                self._rest_server._server.should_exit = True
            self._shutdown_task = asyncio.ensure_future(self._shutdown())

        async def _shutdown(self) -> None:
            if self._grpc_server is not None:
                await self._grpc_server.stop()
            for model in self._models:
                model.stop()

    return CreditModelServer


def _run(main: Awaitable[None], event_loop: str) -> None:
    """Run on uvloop when asked for (or "auto" and installed): KServe's asyncio.run ignores it."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if event_loop in ("auto", "uvloop"):
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            if event_loop == "uvloop":
                raise
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)  # type: ignore[arg-type]  # any awaitable coroutine


def freeze_startup_heap() -> int:
    """Move every object alive now out of the garbage collector's reach; returns how many.

    Start-up leaves a large, permanent heap (kserve, FastAPI, Feast, MLflow, pandas: 150,000 to
    240,000 tracked objects measured in the predictor and the transformer). Every full
    collection traversed all of it: a 130-170 ms pause of the event loop every ~20 batch
    requests (a 1,000-application request allocates enough to trigger one), which was the
    batch p99. Frozen objects are never collected (they live for the process anyway); what
    requests allocate is collected as before.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    _FROZEN_OBJECTS.set(frozen)
    return frozen


def serve(
    models: Sequence[Any],
    options: ServerOptions,
    routes: Sequence[FastRoute] = (),
    observe: Observer | None = None,
    guard: Guard | None = None,
) -> None:
    """Serve ``models`` (kserve Models) over REST and gRPC until SIGTERM/SIGINT; every request
    that is not a probe passes ``guard`` (``serving.admission``)."""
    server = _model_server_class()(options, routes, observe, guard)
    freeze_startup_heap()
    logger.info(
        "REST on %s:%d%s",
        options.bind_address,
        options.http_port,
        f", gRPC on {_grpc_address(options.bind_address, options.grpc_port)}" if options.enable_grpc else "",
    )
    server.start(list(models))

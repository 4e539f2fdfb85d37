"""Settings and flags every server shares: ``ServerSettings``, KServe's command line, ``ServerOptions``,
and the ``Launch`` a server's ``main`` starts with.

The command line is KServe's (``kserve.model_server.parser``: ``--http_port``, ``--grpc_port``,
``--workers`` ...) plus ``--bind_address``; ``--help`` also lists the server's settings (its
``CREDIT_*`` variables) from their declaration. Settings and options are built once in ``main()``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_scoring.settings import load_settings
from credit_scoring.settings_help import environment_help

if TYPE_CHECKING:  # serving.server imports this module; Launch imports it only when it runs
    from serving.admission import Guard
    from serving.asgi import FastRoute, Observer

__all__ = ["Launch", "ServerOptions", "ServerSettings", "launch", "server_argument_parser"]


class ServerSettings(BaseSettings):
    """Settings every KServe server of the platform shares (prefix ``CREDIT_``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_", extra="ignore")

    bind_address: str = Field(
        "0.0.0.0",  # noqa: S104 - containers must listen on every interface; local runs set 127.0.0.1
        description="Address the REST and gRPC servers listen on (127.0.0.1 for local runs).",
    )
    access_log: bool = Field(
        False,
        description="Log one line per HTTP request (uvicorn access log); off by default for throughput.",
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Largest request body the fast routes accept (413 above)."
    )
    max_in_flight: int = Field(
        256,
        ge=0,
        description=(
            "Scoring requests one process serves at once at most; more are shed with 503 and "
            "Retry-After before latency and memory run away (0: no limit)."
        ),
    )


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Flag defaults shown, and the settings epilog kept as laid out."""


def server_argument_parser(
    description: str, model_name: str, settings: Sequence[type[BaseSettings]]
) -> argparse.ArgumentParser:
    """KServe's standard flags + ``--bind_address``; ``--help`` ends with the variables that the
    ``settings`` classes read."""
    from kserve import model_server  # kserve parses sys.argv when imported; keep it out of module import

    parser = argparse.ArgumentParser(
        description=description,
        parents=[model_server.parser],
        formatter_class=_HelpFormatter,
        epilog="\n".join(environment_help(*settings)),
    )
    parser.set_defaults(model_name=model_name, enable_latency_logging=False)
    parser.add_argument(
        "--bind_address",
        default=None,
        help="Address to listen on for REST and gRPC (overrides CREDIT_BIND_ADDRESS; default 0.0.0.0).",
    )
    return parser


@dataclass(frozen=True)
class ServerOptions:
    """How to run the servers; built from the parsed flags and the settings."""

    http_port: int
    grpc_port: int
    bind_address: str = "127.0.0.1"
    enable_grpc: bool = True
    grpc_max_threads: int = 4
    grpc_max_send_bytes: int = 8 * 1024 * 1024
    grpc_max_receive_bytes: int = 8 * 1024 * 1024
    max_asyncio_workers: int | None = None
    timeout_keep_alive: int = 65
    event_loop: str = "auto"
    grace_period: int = 30
    access_log: bool = False
    enable_latency_logging: bool = False
    enable_docs_url: bool = False
    log_config_file: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    max_in_flight: int = 0

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: ServerSettings, **extra: Any) -> ServerOptions:
        if args.workers != 1:
            # Each uvicorn worker would be a spawned copy of the model with its own registry
            # watcher and its own metrics; scale replicas (pods) instead.
            raise SystemExit("--workers must be 1: scale with replicas, one server process per pod")
        return cls(
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            bind_address=args.bind_address or settings.bind_address,
            enable_grpc=args.enable_grpc,
            grpc_max_threads=args.max_threads,
            grpc_max_send_bytes=args.grpc_max_send_message_length,
            grpc_max_receive_bytes=args.grpc_max_receive_message_length,
            max_asyncio_workers=args.max_asyncio_workers,
            timeout_keep_alive=args.timeout_keep_alive,
            event_loop=args.event_loop,
            access_log=settings.access_log,
            enable_latency_logging=args.enable_latency_logging,
            enable_docs_url=args.enable_docs_url,
            log_config_file=args.log_config_file,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            max_body_bytes=settings.max_body_bytes,
            max_in_flight=settings.max_in_flight,
            **extra,
        )


S = TypeVar("S", bound=ServerSettings)


@dataclass(frozen=True)
class Launch(Generic[S]):
    """Everything a server's ``main`` starts it with, and the two steps every ``main`` takes with
    it: logging first (``start_logging``), serving last (``serve``)."""

    model_name: str
    settings: S
    options: ServerOptions

    def start_logging(self) -> None:
        """KServe's log format (or ``--log_config_file``) for kserve, uvicorn and our packages."""
        from serving.server import configure_logging

        configure_logging(self.options.log_config_file)

    def serve(
        self,
        models: Sequence[Any],
        routes: Sequence[FastRoute] = (),
        observe: Observer | None = None,
        guard: Guard | None = None,
    ) -> None:
        """``serving.server.serve`` with these options, until SIGTERM/SIGINT."""
        from serving.server import serve

        serve(models, self.options, routes, observe, guard)


def launch(args: argparse.Namespace, settings_type: type[S], component: str, **flags: Any) -> Launch[S]:
    """Flags over environment over defaults, checked once (a bad value exits naming it)."""
    try:
        settings = load_settings(settings_type, **flags)
    except ValidationError as exc:
        raise SystemExit(f"invalid {component} settings:\n{exc}") from exc
    return Launch(args.model_name, settings, ServerOptions.from_args(args, settings))

"""Every KServe internal the shims touch (``serving.server.KSERVE_INTERNALS``) exists in the
installed KServe, which is the version they were written against.

KServe does not document these attributes; a KServe upgrade may rename or drop any of them
without notice. This test fails loudly when that happens, naming what moved, instead of a server
failing at start-up (or worse, at its first request) in a cluster.
"""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata
from typing import Any

import pytest

from serving.server import KSERVE_INTERNALS, KSERVE_VERSION

# What the shims call these with or override them with: a changed signature breaks them too.
SIGNATURES = {
    ("kserve.model_server:ModelServer", "__init__"): {
        "http_port",
        "grpc_port",
        "workers",
        "max_threads",
        "max_asyncio_workers",
        "enable_grpc",
        "enable_docs_url",
        "enable_latency_logging",
        "access_log_format",
        "event_loop",
        "timeout_keep_alive",
        "grace_period",
        "ssl_certfile",
        "ssl_keyfile",
    },
    ("kserve.protocol.rest.server:RESTServer", "__init__"): {
        "app",
        "data_plane",
        "model_repository_extension",
        "http_port",
        "workers",
        "grace_period",
        "event_loop",
        "timeout_keep_alive",
        "ssl_certfile",
        "ssl_keyfile",
    },
    ("kserve.protocol.grpc.server:GRPCServer", "__init__"): {
        "port",
        "data_plane",
        "model_repository_extension",
        "kwargs",
        "grace_period",
    },
    ("kserve.protocol.grpc.servicer:InferenceServicer", "__init__"): {
        "data_plane",
        "model_repository_extension",
    },
    ("kserve.protocol.grpc.servicer:InferenceServicer", "ModelMetadata"): {"request", "context"},
    ("kserve.protocol.grpc.interceptors:ExceptionToStatusInterceptor", "handle_exception"): {
        "ex",
        "request_or_iterator",
        "context",
        "method_name",
    },
}


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, name) if name else obj


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    """One instance of each class whose __init__ sets the pinned attributes (nothing is started)."""
    from kserve.model_repository import ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.grpc.server import GRPCServer
    from kserve.protocol.infer_type import InferInput
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.server import RESTServer

    from serving.server import _model_server_class
    from serving.settings import ServerOptions

    repository = ModelRepository()
    plane = DataPlane(model_registry=repository)
    extension = ModelRepositoryExtension(model_registry=repository)
    return {
        "kserve.model_server:ModelServer": _model_server_class()(
            ServerOptions(http_port=1, grpc_port=2), (), None
        ),
        "kserve.protocol.rest.server:RESTServer": RESTServer(
            "kserve.model_server:app", plane, extension, http_port=1
        ),
        "kserve.protocol.grpc.server:GRPCServer": GRPCServer(2, plane, extension, kwargs={}),
        "kserve.protocol.dataplane:DataPlane": plane,
        "kserve.protocol.infer_type:InferInput": InferInput("x", [1], "FP32"),
    }


def test_installed_kserve_is_the_pinned_version():
    assert metadata.version("kserve") == KSERVE_VERSION, (
        f"kserve {metadata.version('kserve')} is installed; serving/server.py was written against "
        f"{KSERVE_VERSION}: check every entry of KSERVE_INTERNALS, then update KSERVE_VERSION"
    )


@pytest.mark.parametrize(("owner", "attribute", "kind"), KSERVE_INTERNALS, ids=lambda v: str(v))
def test_kserve_internal_exists(owner: str, attribute: str, kind: str, instances: dict[str, Any]):
    if kind == "instance":
        assert hasattr(instances[owner], attribute), f"{owner} instances no longer have {attribute!r}"
    elif kind == "signature":
        parameters = set(inspect.signature(getattr(_resolve(owner), attribute)).parameters)
        expected = SIGNATURES[(owner, attribute)]
        assert expected <= parameters, f"{owner}.{attribute} lost parameters {sorted(expected - parameters)}"
    else:
        assert hasattr(_resolve(owner), attribute), f"{owner} no longer has {attribute!r}"


def test_every_signature_pin_is_checked():
    signatures = {(owner, attribute) for owner, attribute, kind in KSERVE_INTERNALS if kind == "signature"}
    assert signatures == set(SIGNATURES)

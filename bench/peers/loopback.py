"""Keep the stock KServe peers on loopback.

kserve 0.21's ``RESTServer`` builds its ``uvicorn.Config`` with ``host="0.0.0.0"`` and offers no
flag for it; the benchmark must listen on 127.0.0.1 only (a shared machine), so the peers swap
in a ``Config`` that forces the host. Nothing else about the stock server changes.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from kserve.protocol.rest import server as rest_server


class _LoopbackConfig(uvicorn.Config):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


def bind_rest_to_loopback() -> None:
    rest_server.uvicorn.Config = _LoopbackConfig

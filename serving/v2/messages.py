"""Open Inference Protocol v2 messages: an inference request and an inference response.

One type per message, whatever the transport: ``serving.v2.rest`` reads and writes them as REST
JSON (with or without the binary tensor extension), ``serving.v2.kserve`` converts them to and
from KServe's ``InferRequest`` / ``InferResponse`` (KServe's own REST routes and gRPC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.v2.tensors import Tensor

__all__ = ["InferenceRequest", "InferenceResponse", "RequestedOutput"]


@dataclass(eq=False)
class RequestedOutput:
    """An entry of a request's ``outputs``: a name, and whether it should come back binary."""

    name: str
    parameters: Mapping[str, Any] | None = None

    @property
    def binary(self) -> bool | None:
        """The output's ``binary_data`` parameter (None: not said)."""
        value = (self.parameters or {}).get("binary_data")
        return None if value is None else bool(value)


@dataclass(eq=False)
class InferenceRequest:
    inputs: list[Tensor]
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[RequestedOutput] | None = None
    id: str | None = None
    model_name: str | None = None

    def input(self, name: str) -> Tensor | None:
        return next((t for t in self.inputs if t.name == name), None)

    @property
    def binary_outputs(self) -> bool:
        """Request parameter ``binary_data_output``: every output as raw bytes (REST)."""
        return bool(self.parameters.get("binary_data_output", False))


@dataclass(eq=False)
class InferenceResponse:
    model_name: str
    outputs: list[Tensor]
    model_version: str | None = None
    id: str | None = None
    parameters: Mapping[str, Any] | None = None
    parameters_json: bytes | None = None
    """``parameters`` already serialised (e.g. once per model version): REST embeds it as is."""

    def output(self, name: str) -> Tensor | None:
        return next((t for t in self.outputs if t.name == name), None)

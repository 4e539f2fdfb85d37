"""Our v2 messages to and from KServe's own types (``kserve.protocol.infer_type``).

KServe's FastAPI routes and its gRPC servicer hand a model an ``InferRequest`` and expect an
``InferResponse`` back; the transformer's gRPC client sends and reads KServe's protobuf messages
through the same types (``InferRequest.to_grpc``, ``InferResponse.from_grpc``). Those paths are
KServe's own encoders and decoders; this module only maps the types, so both servers handle a
request the same way whichever transport it came by.

gRPC parameters have no floating-point type (``InferParameter`` holds bool, int64 or string):
a float parameter travels as its decimal string (``repr``, which reads back exactly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from credit_scoring.errors import fail
from serving.v2.messages import InferenceRequest, InferenceResponse, RequestedOutput
from serving.v2.tensors import Tensor

__all__ = [
    "from_kserve_request",
    "from_kserve_response",
    "grpc_request",
    "parameters_from",
    "to_kserve_response",
]


def parameters_from(raw: Any) -> dict[str, Any]:
    """REST parameters (a dict) or gRPC ones (a map of ``InferParameter``) as a plain dict."""
    if not raw:
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        which = getattr(value, "WhichOneof", None)
        if which is None:
            out[key] = value
            continue
        kind = which("parameter_choice")
        if kind is not None:
            out[key] = getattr(value, kind)
    return out


def _grpc_safe(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {k: repr(v) if isinstance(v, float) else v for k, v in parameters.items()}


def from_kserve_request(request: Any) -> InferenceRequest:
    """A KServe ``InferRequest`` (from its REST route or gRPC servicer) as our request.

    Binary tensors (gRPC ``raw_input_contents``) stay bytes: KServe keeps them on the input as
    ``_raw_data`` (pinned in ``tests/serving/test_kserve_pins.py``), and the servers validate
    them exactly as they validate the REST binary extension.
    """
    inputs: list[Tensor] = []
    for i, item in enumerate(request.inputs):
        raw = getattr(item, "_raw_data", None)
        params = parameters_from(item.parameters)
        where = f"inputs[{i}]"
        if raw is not None:
            inputs.append(
                Tensor(item.name, item.datatype, list(item.shape), raw=raw, parameters=params, where=where)
            )
        else:
            data = item.data
            if not isinstance(data, list):
                try:
                    data = item.as_numpy()
                except Exception as exc:  # KServe raises ValueError/InvalidInput for misfit data
                    raise fail(f"{where}.data", f"cannot be read as {item.datatype}: {exc}") from exc
            inputs.append(
                Tensor(item.name, item.datatype, list(item.shape), data=data, parameters=params, where=where)
            )
    outputs = None
    if request.request_outputs:
        outputs = [RequestedOutput(o.name, parameters_from(o.parameters)) for o in request.request_outputs]
    return InferenceRequest(
        inputs=inputs,
        parameters=parameters_from(request.parameters),
        outputs=outputs,
        id=request.id or None,
        model_name=request.model_name,
    )


def to_kserve_response(response: InferenceResponse, request: Any) -> Any:
    """Our response as KServe's ``InferResponse``, binary as KServe would answer ``request``
    (gRPC with raw inputs: raw outputs; REST: ``binary_data_output`` or the output's flag)."""
    from kserve.protocol.infer_type import InferOutput, InferResponse

    grpc = bool(getattr(request, "from_grpc", False))
    binary_default = bool(request.use_binary_outputs) if request is not None else False
    outputs = []
    for tensor in response.outputs:
        out = InferOutput(name=tensor.name, shape=list(tensor.shape), datatype=tensor.datatype)
        out.set_data_from_numpy(tensor.as_numpy(), binary_data=grpc or tensor.binary or binary_default)
        outputs.append(out)
    parameters = dict(response.parameters or {})
    return InferResponse(
        response_id=response.id or "",
        model_name=response.model_name,
        infer_outputs=outputs,
        model_version=response.model_version,
        parameters=_grpc_safe(parameters) if grpc else parameters,
        from_grpc=grpc,
        use_binary_outputs=grpc or binary_default or any(t.binary for t in response.outputs),
    )


def grpc_request(request: InferenceRequest, model_name: str) -> Any:
    """Our request as KServe's gRPC ``ModelInferRequest`` (every input in ``raw_input_contents``)."""
    from kserve.protocol.infer_type import InferInput, InferRequest

    inputs = []
    for tensor in request.inputs:
        item = InferInput(tensor.name, list(tensor.shape), tensor.datatype)
        item.set_data_from_numpy(tensor.as_numpy(), binary_data=True)
        inputs.append(item)
    kserve_request = InferRequest(
        model_name=model_name,
        infer_inputs=inputs,
        request_id=request.id,
        parameters=_grpc_safe(request.parameters) if request.parameters else None,
    )
    return kserve_request.to_grpc()


def from_kserve_response(response: Any) -> InferenceResponse:
    """KServe's ``InferResponse`` (e.g. ``InferResponse.from_grpc``) as our response."""
    outputs = [
        Tensor(o.name, o.datatype, list(o.shape), data=o.as_numpy(), where=f"outputs[{i}]")
        for i, o in enumerate(response.outputs)
    ]
    return InferenceResponse(
        model_name=response.model_name,
        outputs=outputs,
        model_version=response.model_version or None,
        id=response.id or None,
        parameters=parameters_from(response.parameters),
    )

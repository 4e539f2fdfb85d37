"""Open Inference Protocol v2 over REST: JSON bodies and the binary tensor extension, both ways.

This is the hot path of both servers and of the transformer's predictor client, so it is ours
rather than KServe's ``InferRequest.from_bytes`` (which turns every binary tensor into a Python
list and back): bodies are parsed once with orjson, binary tensors stay ``memoryview`` slices of
the body until a server reads them with numpy. The bytes are KServe's: the same key order and the
same binary layout, so a message encoded here is byte for byte what KServe's ``to_rest`` writes
and each side decodes the other's (``tests/serving/test_v2_wire.py``). The one difference: FP32
JSON data is written with the shortest repr of each float32 (KServe widens to float64 first);
both read back the same float32 values.

Every problem a client can cause is an ``InvalidApplication`` naming the field (HTTP 400).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson

from credit_scoring.errors import FieldProblem, Problems, UnsupportedMediaType, fail, key_name
from serving.v2.messages import InferenceRequest, InferenceResponse, RequestedOutput
from serving.v2.tensors import INFERENCE_HEADER, Tensor, is_shape, raw_bytes

__all__ = [
    "JSON_MEDIA_TYPES",
    "check_media_type",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "json_length",
    "loads",
]

JSON_MEDIA_TYPES = frozenset({"application/json", "application/cloudevents+json", "application/ld+json"})
BINARY_MEDIA_TYPE = "application/octet-stream"
_NON_JSON_NUMBER = re.compile(rb"(?<![A-Za-z\"])-?(NaN|Infinity)(?![A-Za-z\"])")
# model_name/model_version: KServe's own REST client repeats them in the body.
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
_TENSOR_KEYS = frozenset({"name", "datatype", "shape", "data", "parameters"})
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


# --------------------------------------------------------------------------- shared
def loads(body: bytes | memoryview) -> Any:
    """Parse JSON, naming the problem: empty body, NaN/Infinity, or where the syntax breaks."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        text = bytes(body)
        if not text.strip():
            raise fail("body", "is empty; send a JSON object") from exc
        if _NON_JSON_NUMBER.search(text):
            raise fail("body", "NaN and Infinity are not valid JSON numbers; send finite numbers") from exc
        raise fail("body", f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc


def check_media_type(content_type: str | None, *, binary_ok: bool = False) -> None:
    """Accept JSON (and octet-stream for binary-extension bodies); 415 otherwise. A missing
    content type is taken as JSON, like KServe does, so plain clients keep working."""
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_MEDIA_TYPES or (binary_ok and media == BINARY_MEDIA_TYPE):
        return
    allowed = "application/json" + (
        " (or application/octet-stream with the binary extension)" if binary_ok else ""
    )
    raise UnsupportedMediaType(
        [FieldProblem(None, "content-type", f"{media!r} is not supported; send {allowed}")]
    )


def json_length(header: str | bytes | None, body_length: int) -> int | None:
    """The ``inference-header-content-length`` value, checked against the body (None: plain JSON)."""
    if header is None:
        return None
    try:
        n = int(header)
    except ValueError:
        n = -1
    if not 0 < n <= body_length:
        raise fail(INFERENCE_HEADER, f"must be the byte length of the JSON header (1..{body_length})")
    return n


def _split(body: bytes, length: int | None) -> tuple[Any, memoryview | None]:
    if length is None:
        return loads(body), None
    view = memoryview(body)
    return loads(view[:length]), view[length:]


def _tensors(items: Any, key: str, raw: memoryview | None, problems: Problems) -> list[Tensor]:
    """The ``inputs`` / ``outputs`` list: each tensor's structure checked, binary data sliced."""
    if not isinstance(items, list) or not items:
        problems.add(None, key, f"must be a non-empty list of {key[:-1]} tensors")
        return []
    tensors: list[Tensor] = []
    offset = 0
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            problems.add(None, where, "must be an object with name, datatype, shape and data")
            continue
        if not item.keys() <= _TENSOR_KEYS:
            for unknown in sorted(item.keys() - _TENSOR_KEYS):
                problems.add(None, f"{where}.{key_name(unknown)}", "unknown field")
        name: Any = item.get("name")
        datatype: Any = item.get("datatype")
        shape: Any = item.get("shape")
        params = item.get("parameters")
        ok = True
        if not isinstance(name, str) or not name:
            problems.add(None, f"{where}.name", "must be a non-empty string")
            ok = False
        if not isinstance(datatype, str):
            problems.add(None, f"{where}.datatype", "must be a string such as BYTES or FP64")
            ok = False
        if not is_shape(shape):
            problems.add(None, f"{where}.shape", "must be a list of non-negative integers")
            ok = False
        if params is not None and not isinstance(params, dict):
            problems.add(None, f"{where}.parameters", "must be an object")
            ok = False
        # A non-object ``parameters`` is already a problem; it has no size to read.
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if "data" in item:
            if not isinstance(item["data"], list):
                problems.add(None, f"{where}.data", "must be a list")
                ok = False
            if ok:
                tensors.append(
                    Tensor(name, datatype, shape, data=item["data"], parameters=params, where=where)
                )
        elif size is not None and raw is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(raw):
                problems.add(None, f"{where}.parameters.binary_data_size", "does not fit the binary body")
                continue
            if ok:
                chunk = raw[offset : offset + size]
                tensors.append(Tensor(name, datatype, shape, raw=chunk, parameters=params, where=where))
            offset += size
        else:
            problems.add(None, f"{where}.data", "is missing")
    return tensors


# --------------------------------------------------------------------------- requests
def decode_request(body: bytes, length: int | None = None) -> InferenceRequest:
    """A v2 inference request body; ``length`` is the binary extension's JSON header length."""
    doc, raw = _split(body, length)
    if not isinstance(doc, dict):
        raise fail("body", 'must be a JSON object like {"inputs": [...]}')
    problems = Problems()
    if not doc.keys() <= _REQUEST_KEYS:
        for unknown in sorted(doc.keys() - _REQUEST_KEYS):
            problems.add(None, key_name(unknown), "unknown field")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        problems.add(None, "id", "must be a string")
    params = doc.get("parameters")
    if params is not None and not isinstance(params, dict):
        problems.add(None, "parameters", "must be an object")
    inputs = _tensors(doc.get("inputs"), "inputs", raw, problems)
    outputs = _requested_outputs(doc.get("outputs"), problems)
    problems.raise_if_any()
    return InferenceRequest(
        inputs=inputs,
        parameters=params or {},
        outputs=outputs,
        id=request_id,
        model_name=doc.get("model_name") if isinstance(doc.get("model_name"), str) else None,
    )


def _requested_outputs(raw: Any, problems: Problems) -> list[RequestedOutput] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        problems.add(None, "outputs", "must be a non-empty list of {name} objects")
        return None
    outputs = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        params = item.get("parameters") if isinstance(item, dict) else None
        if not isinstance(name, str) or (params is not None and not isinstance(params, dict)):
            problems.add(None, f"outputs[{i}]", "must be an object with a string name (and parameters)")
            continue
        outputs.append(RequestedOutput(name, params))
    return outputs


def _tensor_json(tensor: Tensor, raws: list[bytes], binary: bool) -> dict[str, Any]:
    # Key order as KServe's to_rest writes it: name, shape, datatype, parameters, data.
    item: dict[str, Any] = {"name": tensor.name, "shape": tensor.shape, "datatype": tensor.datatype}
    if (
        not binary
        and not tensor.parameters
        and tensor.raw is None
        and not isinstance(tensor.data, np.ndarray)
    ):
        item["data"] = tensor.data  # the common JSON case: a plain list, nothing to convert
        return item
    params = dict(tensor.parameters) if tensor.parameters else {}
    if binary:
        blob = bytes(tensor.raw) if tensor.raw is not None else raw_bytes(tensor.as_numpy(), tensor.datatype)
        params["binary_data_size"] = len(blob)
        raws.append(blob)
        item["parameters"] = params
        return item
    params.pop("binary_data_size", None)
    if params:
        item["parameters"] = params
    data = tensor.data
    if tensor.raw is not None or (isinstance(data, np.ndarray) and data.dtype == np.object_):
        data = tensor.as_numpy()
        data = (
            [v.decode("utf-8") if isinstance(v, bytes) else v for v in data.reshape(-1).tolist()]
            if tensor.datatype == "BYTES"
            else data.reshape(-1)
        )
    elif isinstance(data, np.ndarray):
        data = data.reshape(-1)
    item["data"] = data
    return item


def _finish(doc: dict[str, Any], raws: list[bytes]) -> tuple[bytes, int | None]:
    header = orjson.dumps(doc, option=_NUMPY)
    if not raws:
        return header, None
    return b"".join([header, *raws]), len(header)


def encode_request(request: InferenceRequest, binary: bool = False) -> tuple[bytes, int | None]:
    """The body (and JSON header length when ``binary``: every input as raw bytes)."""
    raws: list[bytes] = []
    doc: dict[str, Any] = {}
    if request.id is not None:
        doc["id"] = request.id
    if request.model_name is not None:
        doc["model_name"] = request.model_name
    doc["inputs"] = [_tensor_json(t, raws, binary) for t in request.inputs]
    if request.outputs:
        doc["outputs"] = [
            {"name": o.name, **({"parameters": dict(o.parameters)} if o.parameters else {})}
            for o in request.outputs
        ]
    if request.parameters:
        doc["parameters"] = request.parameters
    return _finish(doc, raws)


# --------------------------------------------------------------------------- responses
def encode_response(response: InferenceResponse) -> tuple[bytes, int | None]:
    """The body, and the JSON header length when any output is binary (``Tensor.binary``)."""
    raws: list[bytes] = []
    doc: dict[str, Any] = {
        "id": response.id,
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": [_tensor_json(t, raws, t.binary) for t in response.outputs],
    }
    if response.parameters_json is not None:
        doc["parameters"] = orjson.Fragment(response.parameters_json)
    elif response.parameters:
        doc["parameters"] = response.parameters
    return _finish(doc, raws)


def decode_response(body: bytes, length: int | None = None) -> InferenceResponse:
    """A v2 inference response body (what the transformer reads from its predictor)."""
    doc, raw = _split(body, length)
    if not isinstance(doc, dict):
        raise fail("body", "must be a JSON object with outputs")
    problems = Problems()
    outputs = _tensors(doc.get("outputs"), "outputs", raw, problems)
    params = doc.get("parameters")
    if params is not None and not isinstance(params, dict):
        problems.add(None, "parameters", "must be an object")
    problems.raise_if_any()
    version = doc.get("model_version")
    return InferenceResponse(
        model_name=str(doc.get("model_name") or ""),
        outputs=outputs,
        model_version=None if version is None else str(version),
        id=doc.get("id") if isinstance(doc.get("id"), str) else None,
        parameters=params,
    )

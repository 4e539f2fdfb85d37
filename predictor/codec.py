"""Requests in, responses out: Open Inference Protocol v2 (JSON and binary extension) and v1.

Every request becomes one float32 matrix ``[N, 18]`` in ``credit_scoring.features`` order, with
NaN for missing values, plus the options that were asked for. Anything wrong is collected as
field-level ``FieldProblem``s and raised as one ``InvalidApplication`` (HTTP 400 /
INVALID_ARGUMENT), never as a 500.

Accepted inputs:

- one FP32/FP64 tensor ``features`` of shape ``[N, 18]`` (JSON ``null`` = missing), or
- with request ``parameters.content_type = "pd"``: one tensor per model feature, shape ``[N]``
  (or ``[N, 1]``); categoricals as BYTES level strings or as numeric level codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import orjson

from credit_scoring.errors import FieldProblem, InvalidApplication
from credit_scoring.serving import Reply
from predictor.scoring import LoadedModel, Scores
from predictor.tensors import (
    FEATURE_NAMES,
    FEATURE_TENSOR,
    N_FEATURES,
    Problems,
    Tensor,
    check_values,
    fail,
    numbers,
    object_rows,
    require_rows,
    to_matrix,
)

__all__ = [
    "INPUT_METADATA",
    "OUTPUT_METADATA",
    "Contribs",
    "Decoded",
    "decode_infer_request",
    "decode_v1",
    "decode_v2",
    "encode_v1",
    "encode_v2",
    "select_outputs",
    "v1_response",
]

BINARY_HEADER = b"inference-header-content-length"
_OUTPUT_TYPES = {"probability": "FP64", "margin": "FP64", "contributions": "FP32"}
_MAX_PROBLEMS = 50

INPUT_METADATA = [{"name": FEATURE_TENSOR, "datatype": "FP32", "shape": [-1, N_FEATURES]}]
OUTPUT_METADATA = [
    {"name": "probability", "datatype": "FP64", "shape": [-1]},
    {"name": "margin", "datatype": "FP64", "shape": [-1]},
    {"name": "contributions", "datatype": "FP32", "shape": [-1, N_FEATURES + 1]},
]


class Contribs(StrEnum):
    NONE = "none"
    ALL = "all"
    ADVERSE = "adverse"


@dataclass(frozen=True)
class Decoded:
    matrix: np.ndarray
    contribs: Contribs = Contribs.NONE
    request_id: str | None = None
    # Requested outputs as (name, binary); None = the default set (contributions only if asked).
    outputs: tuple[tuple[str, bool], ...] | None = None
    binary: bool = False


# --------------------------------------------------------------------------- v2 decoding
def _loads(body: bytes | memoryview) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise fail("body", f"is not valid JSON: {exc}") from exc


def decode_v2(body: bytes, headers: Mapping[bytes, bytes], max_rows: int) -> Decoded:
    """A v2 REST request body: JSON, or JSON header + binary tensors (the binary data extension)."""
    raw: memoryview | None = None
    header_len = headers.get(BINARY_HEADER)
    if header_len is not None:
        try:
            n = int(header_len)
        except ValueError:
            n = -1
        if not 0 < n <= len(body):
            raise fail("inference-header-content-length", f"must be the JSON header length (1..{len(body)})")
        view = memoryview(body)
        doc, raw = _loads(view[:n]), view[n:]
    else:
        doc = _loads(body)
    if not isinstance(doc, dict):
        raise fail("body", "must be a JSON object with 'inputs'")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise fail("parameters", "must be an object")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise fail("inputs", "must be a non-empty list of tensors")
    problems = Problems()
    tensors: list[Tensor] = []
    offset = 0
    for i, item in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(item, dict):
            problems.add(None, where, "must be an object with name, datatype, shape and data")
            continue
        name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
        if not isinstance(name, str) or not isinstance(datatype, str):
            problems.add(None, where, "needs a string 'name' and 'datatype'")
            continue
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            problems.add(None, f"{where}.shape", "must be a list of non-negative integers")
            continue
        tparams = item.get("parameters") or {}
        if "data" in item:
            tensors.append(Tensor(name, datatype, shape, data=item["data"], where=where))
        elif isinstance(tparams, dict) and "binary_data_size" in tparams and raw is not None:
            size = tparams["binary_data_size"]
            if not isinstance(size, int) or size < 0 or offset + size > len(raw):
                problems.add(None, f"{where}.parameters.binary_data_size", "does not fit the binary body")
                continue
            tensors.append(Tensor(name, datatype, shape, raw=raw[offset : offset + size], where=where))
            offset += size
        else:
            problems.add(None, f"{where}.data", "is missing")
    problems.raise_if_any()
    outputs = _requested_outputs(doc.get("outputs"), bool(params.get("binary_data_output", False)))
    request_id = doc.get("id")
    return Decoded(
        matrix=to_matrix(tensors, params, max_rows),
        contribs=_contribs(params.get("pred_contribs"), outputs),
        request_id=request_id if isinstance(request_id, str) else None,
        outputs=outputs,
        binary=bool(params.get("binary_data_output", False)),
    )


def _requested_outputs(raw: Any, binary_default: bool) -> tuple[tuple[str, bool], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise fail("outputs", "must be a non-empty list of {name} objects")
    problems = Problems()
    chosen: list[tuple[str, bool]] = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in _OUTPUT_TYPES:
            problems.add(None, f"outputs[{i}].name", f"must be one of {sorted(_OUTPUT_TYPES)}")
            continue
        params = item.get("parameters") or {}
        binary = params.get("binary_data", binary_default) if isinstance(params, dict) else binary_default
        chosen.append((name, bool(binary)))
    problems.raise_if_any()
    return tuple(chosen)


def _contribs(value: Any, outputs: tuple[tuple[str, bool], ...] | None) -> Contribs:
    if value is None or value is False:
        mode = Contribs.NONE
    elif value is True:
        mode = Contribs.ALL
    elif isinstance(value, str) and value.lower() in ("true", "false", "adverse"):
        mode = {"true": Contribs.ALL, "false": Contribs.NONE, "adverse": Contribs.ADVERSE}[value.lower()]
    else:
        raise fail("parameters.pred_contribs", 'must be true, false or "adverse"')
    if mode is Contribs.NONE and outputs is not None and any(name == "contributions" for name, _ in outputs):
        mode = Contribs.ALL  # asking for the output is asking for it to be computed
    return mode


def decode_infer_request(request: Any, max_rows: int) -> Decoded:
    """A KServe ``InferRequest`` (gRPC, or REST through KServe's own route)."""
    from kserve.protocol.infer_type import to_http_parameters

    params = to_http_parameters(request.parameters) if request.parameters else {}
    problems = Problems()
    tensors: list[Tensor] = []
    for i, item in enumerate(request.inputs):
        where = f"inputs[{i}]"
        try:
            data = item.as_numpy()
        except Exception as exc:  # KServe raises ValueError/InvalidInput for data that misfits shape/type
            problems.add(
                None, f"{where}.data", f"cannot be read as {item.datatype} {list(item.shape)}: {exc}"
            )
            continue
        tensors.append(Tensor(item.name, item.datatype, [int(d) for d in item.shape], data=data, where=where))
    problems.raise_if_any()
    outputs = None
    if request.request_outputs:
        outputs = _requested_outputs([{"name": o.name} for o in request.request_outputs], False)
    return Decoded(
        matrix=to_matrix(tensors, params, max_rows),
        contribs=_contribs(params.get("pred_contribs"), outputs),
        request_id=request.id or None,
        outputs=outputs,
    )


# --------------------------------------------------------------------------- v1 decoding
def decode_v1(body: bytes | Mapping[str, Any], max_rows: int) -> Decoded:
    """``{"instances": [[18 numbers] | {feature: value}, ...], "parameters": {...}}``."""
    doc = _loads(body) if isinstance(body, bytes | bytearray | memoryview) else body
    if not isinstance(doc, Mapping):
        raise fail("body", "must be a JSON object with 'instances'")
    params = doc.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise fail("parameters", "must be an object")
    instances = doc.get("instances")
    if not isinstance(instances, list):
        raise fail("instances", "must be a list of rows")
    require_rows(len(instances), max_rows, "instances")
    if all(isinstance(row, list) for row in instances):
        bad = [i for i, row in enumerate(instances) if len(row) != N_FEATURES]
        if bad:
            raise InvalidApplication(
                [
                    FieldProblem(
                        i, "instance", f"must hold {N_FEATURES} values in model order: {list(FEATURE_NAMES)}"
                    )
                    for i in bad[:_MAX_PROBLEMS]
                ]
            )
        values = numbers(
            Tensor("instances", "FP64", [len(instances), N_FEATURES], data=instances, where="instances")
        )
        matrix = np.ascontiguousarray(values.reshape(len(instances), N_FEATURES), dtype=np.float32)
    elif all(isinstance(row, Mapping) for row in instances):
        matrix = object_rows(instances)
    else:
        raise fail("instances", "rows must all be lists (model order) or all be objects (feature: value)")
    check_values(matrix)
    return Decoded(matrix=matrix, contribs=_contribs(params.get("pred_contribs"), None))


# --------------------------------------------------------------------------- encoding
def select_outputs(decoded: Decoded, scores: Scores) -> list[tuple[str, str, list[int], np.ndarray, bool]]:
    n = scores.probability.shape[0]
    arrays: dict[str, np.ndarray | None] = {
        "probability": scores.probability,
        "margin": scores.margin,
        "contributions": scores.contributions,
    }
    wanted = decoded.outputs
    if wanted is None:
        wanted = tuple((name, decoded.binary) for name, arr in arrays.items() if arr is not None)
    out = []
    for name, binary in wanted:
        arr = arrays[name]
        assert arr is not None  # contributions are computed whenever they are requested
        shape = [n] if arr.ndim == 1 else [n, arr.shape[1]]
        out.append((name, _OUTPUT_TYPES[name], shape, arr, binary))
    return out


def encode_v2(model_name: str, model: LoadedModel, decoded: Decoded, scores: Scores) -> Reply:
    """The v2 response: JSON, or JSON header + raw tensors when binary outputs were asked for."""
    outputs = []
    raw: list[bytes] = []
    for name, datatype, shape, arr, binary in select_outputs(decoded, scores):
        item: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            blob = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            item["parameters"] = {"binary_data_size": len(blob)}
            raw.append(blob)
        else:
            item["data"] = arr.reshape(-1)
        outputs.append(item)
    doc = {
        "model_name": model_name,
        "model_version": model.version,
        "id": decoded.request_id or uuid.uuid4().hex,
        "parameters": orjson.Fragment(model.parameters_json),
        "outputs": outputs,
    }
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not raw:
        return Reply(header)
    return Reply(
        b"".join([header, *raw]),
        content_type=b"application/octet-stream",
        headers=((BINARY_HEADER, str(len(header)).encode()),),
    )


def v1_response(model_name: str, model: LoadedModel, scores: Scores, parameters: Any) -> dict[str, Any]:
    """``{"predictions": [{probability, margin[, contributions]}, ...], "model_name", "model_version", ...}``.

    With ``pred_contribs = "adverse"``, rows that were not computed carry ``contributions: null``.
    """
    probability = scores.probability.tolist()
    margin = scores.margin.tolist()
    predictions: list[dict[str, Any]] = [
        {"probability": p, "margin": m} for p, m in zip(probability, margin, strict=True)
    ]
    if scores.contributions is not None:
        contributions = scores.contributions
        computed = ~np.isnan(contributions[:, -1])
        for i, row in enumerate(predictions):
            row["contributions"] = contributions[i].tolist() if computed[i] else None
    return {
        "predictions": predictions,
        "model_name": model_name,
        "model_version": model.version,
        "parameters": parameters,
    }


def encode_v1(model_name: str, model: LoadedModel, scores: Scores) -> Reply:
    return Reply(orjson.dumps(v1_response(model_name, model, scores, orjson.Fragment(model.parameters_json))))

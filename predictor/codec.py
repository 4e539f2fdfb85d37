"""Predictor requests in, answers out: v2 (any transport, decoded by ``serving.v2``) and v1 JSON.

Every request becomes a ``Query``: one float32 matrix ``[N, F]`` in ``credit_scoring.features``
order (NaN = missing), which rows to explain (``credit_scoring.explain.ExplainRows``) and which
outputs to return. Anything wrong is collected as field-level problems and raised as one
``InvalidApplication`` (HTTP 400 / INVALID_ARGUMENT), never as a 500.

Accepted inputs:

- one FP32/FP64 tensor ``features`` of shape ``[N, F]`` (JSON ``null`` = missing), or
- with request ``parameters.content_type = "pd"``: one tensor per model feature, shape ``[N]``
  (or ``[N, 1]``); categoricals as BYTES level strings or as numeric level codes;
- optionally a BOOL tensor ``explain_rows`` ``[N]``: rows to explain whatever their margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from credit_scoring.errors import FieldProblem, InvalidApplication, Problems, fail
from credit_scoring.explain import ROWS_INPUT, ExplainRows
from predictor.scoring import LoadedModel, ModelOutputs
from predictor.tensors import (
    FEATURE_NAMES,
    FEATURE_TENSOR,
    N_FEATURES,
    check_values,
    numbers,
    object_rows,
    require_rows,
    to_matrix,
)
from serving.v2 import InferenceRequest, InferenceResponse, Tensor
from serving.v2.rest import loads

__all__ = [
    "INPUT_METADATA",
    "OUTPUT_METADATA",
    "Query",
    "query_from_v1",
    "query_from_v2",
    "v1_answer",
    "v1_body",
    "v2_response",
]

OUTPUT_TYPES = {"probability": "FP64", "margin": "FP64", "contributions": "FP32"}

INPUT_METADATA: list[dict[str, Any]] = [
    {"name": FEATURE_TENSOR, "datatype": "FP32", "shape": [-1, N_FEATURES]},
    {"name": ROWS_INPUT, "datatype": "BOOL", "shape": [-1]},  # optional (credit_scoring.explain)
]
OUTPUT_METADATA: list[dict[str, Any]] = [
    {"name": "probability", "datatype": "FP64", "shape": [-1]},
    {"name": "margin", "datatype": "FP64", "shape": [-1]},
    {"name": "contributions", "datatype": "FP32", "shape": [-1, N_FEATURES + 1]},
]


@dataclass(frozen=True)
class Query:
    """One request, whatever its protocol: the matrix and what to answer."""

    matrix: np.ndarray
    explain: ExplainRows = field(default_factory=ExplainRows)
    request_id: str | None = None
    """The v2 request ``id``, echoed in the response."""
    outputs: tuple[tuple[str, bool], ...] | None = None
    """Requested outputs as (name, binary); None: the default set (contributions if computed)."""
    binary: bool = False
    """REST ``binary_data_output``: the default outputs as raw bytes."""


# --------------------------------------------------------------------------- v2
def query_from_v2(request: InferenceRequest, max_rows: int) -> Query:
    """A decoded v2 request (REST, binary extension or gRPC) as a ``Query``."""
    params = request.parameters
    features = [t for t in request.inputs if t.name != ROWS_INPUT]
    rows_tensor = request.input(ROWS_INPUT)
    matrix = to_matrix(features, params, max_rows)
    rows = None if rows_tensor is None else _explain_rows(rows_tensor, matrix.shape[0])
    outputs = _requested_outputs(request)
    explain = ExplainRows.from_parameters(params, rows)
    if not explain.any and outputs is not None and any(name == "contributions" for name, _ in outputs):
        explain = ExplainRows(all=True)  # asking for the output is asking for it to be computed
    return Query(matrix, explain, request.id, outputs, request.binary_outputs)


def _explain_rows(t: Tensor, n_rows: int) -> np.ndarray:
    if t.datatype != "BOOL":
        raise fail(f"{t.where}.datatype", f"{ROWS_INPUT} must be BOOL, got {t.datatype}")
    if not (t.shape == [n_rows] or t.shape == [n_rows, 1]):
        raise fail(f"{t.where}.shape", f"must be [{n_rows}] (one flag per row of {FEATURE_TENSOR})")
    try:
        values = t.as_numpy().reshape(-1)
    except (TypeError, ValueError) as exc:
        raise fail(f"{t.where}.data", f"must hold {n_rows} booleans") from exc
    if values.dtype != np.bool_:
        raise fail(f"{t.where}.data", "must hold booleans")
    return values


def _requested_outputs(request: InferenceRequest) -> tuple[tuple[str, bool], ...] | None:
    if request.outputs is None:
        return None
    problems = Problems()
    chosen: list[tuple[str, bool]] = []
    for i, output in enumerate(request.outputs):
        if output.name not in OUTPUT_TYPES:
            problems.add(None, f"outputs[{i}].name", f"must be one of {sorted(OUTPUT_TYPES)}")
            continue
        binary = output.binary
        chosen.append((output.name, request.binary_outputs if binary is None else binary))
    problems.raise_if_any()
    return tuple(chosen)


def v2_response(
    model_name: str, model: LoadedModel, query: Query, outputs: ModelOutputs, request_id: str
) -> InferenceResponse:
    """The v2 response: the requested outputs (binary where asked), the version's parameters;
    its ``id`` echoes the request's ``id``, else the request id."""
    n = outputs.probability.shape[0]
    arrays: dict[str, np.ndarray | None] = {
        "probability": outputs.probability,
        "margin": outputs.margin,
        "contributions": outputs.contributions,
    }
    wanted = query.outputs
    if wanted is None:
        wanted = tuple((name, query.binary) for name, arr in arrays.items() if arr is not None)
    tensors = []
    for name, binary in wanted:
        arr = arrays[name]
        assert arr is not None  # contributions are computed whenever they are requested
        shape = [n] if arr.ndim == 1 else [n, arr.shape[1]]
        tensors.append(Tensor(name, OUTPUT_TYPES[name], shape, data=arr, binary=binary))
    return InferenceResponse(
        model_name=model_name,
        outputs=tensors,
        model_version=model.version,
        id=query.request_id or request_id,
        parameters=model.parameters,
        parameters_json=model.parameters_json,
    )


# --------------------------------------------------------------------------- v1
def query_from_v1(body: bytes | Mapping[str, Any], max_rows: int) -> Query:
    """``{"instances": [[F numbers] | {feature: value}, ...], "parameters": {...}}``."""
    doc = loads(body) if isinstance(body, bytes | bytearray | memoryview) else body
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
            message = f"must hold {N_FEATURES} values in model order: {list(FEATURE_NAMES)}"
            raise InvalidApplication([FieldProblem(i, "instance", message) for i in bad])
        values = numbers(
            Tensor("instances", "FP64", [len(instances), N_FEATURES], data=instances, where="instances")
        )
        matrix = np.ascontiguousarray(values.reshape(len(instances), N_FEATURES), dtype=np.float32)
    elif all(isinstance(row, Mapping) for row in instances):
        matrix = object_rows(instances)
    else:
        raise fail("instances", "rows must all be lists (model order) or all be objects (feature: value)")
    check_values(matrix)
    return Query(matrix=matrix, explain=ExplainRows.from_parameters(params))


def v1_answer(model_name: str, model: LoadedModel, outputs: ModelOutputs, parameters: Any) -> dict[str, Any]:
    """``{"predictions": [{probability, margin[, contributions]}, ...], "model_name", "model_version",
    "parameters"}``; rows whose contributions were not computed carry ``contributions: null``."""
    probability = outputs.probability.tolist()
    margin = outputs.margin.tolist()
    predictions: list[dict[str, Any]] = [
        {"probability": p, "margin": m} for p, m in zip(probability, margin, strict=True)
    ]
    if outputs.contributions is not None:
        contributions = outputs.contributions
        computed = ~np.isnan(contributions[:, -1])
        for i, row in enumerate(predictions):
            row["contributions"] = contributions[i].tolist() if computed[i] else None
    return {
        "predictions": predictions,
        "model_name": model_name,
        "model_version": model.version,
        "parameters": parameters,
    }


def v1_body(model_name: str, model: LoadedModel, outputs: ModelOutputs) -> bytes:
    return orjson.dumps(v1_answer(model_name, model, outputs, orjson.Fragment(model.parameters_json)))

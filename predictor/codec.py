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

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import orjson

from credit_scoring.errors import FieldProblem, InvalidApplication
from credit_scoring.features import CATEGORICAL_LEVELS, MODEL_FEATURES, Kind, feature_names
from credit_scoring.serving import Reply
from predictor.scoring import LoadedModel, Scores

__all__ = [
    "FEATURE_TENSOR",
    "INPUT_METADATA",
    "OUTPUT_METADATA",
    "Contribs",
    "Decoded",
    "Tensor",
    "decode_infer_request",
    "decode_v1",
    "decode_v2",
    "encode_v1",
    "encode_v2",
    "select_outputs",
    "to_matrix",
    "v1_response",
]

FEATURE_TENSOR = "features"
BINARY_HEADER = b"inference-header-content-length"
_NAMES = feature_names()
_N = len(_NAMES)
_INDEX = {name: j for j, name in enumerate(_NAMES)}
_CAT_COLUMNS = np.array([j for j, f in enumerate(MODEL_FEATURES) if f.kind is Kind.CATEGORY])
_CAT_SIZES = np.array(
    [len(CATEGORICAL_LEVELS[MODEL_FEATURES[j].name]) for j in _CAT_COLUMNS], dtype=np.float32
)
_LEVEL_CODES = {
    name: {level: float(i) for i, level in enumerate(levels)} for name, levels in CATEGORICAL_LEVELS.items()
}
_RAW_DTYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
}
_MATRIX_TYPES = ("FP32", "FP64")
_OUTPUT_TYPES = {"probability": "FP64", "margin": "FP64", "contributions": "FP32"}
_MAX_PROBLEMS = 50

INPUT_METADATA = [{"name": FEATURE_TENSOR, "datatype": "FP32", "shape": [-1, _N]}]
OUTPUT_METADATA = [
    {"name": "probability", "datatype": "FP64", "shape": [-1]},
    {"name": "margin", "datatype": "FP64", "shape": [-1]},
    {"name": "contributions", "datatype": "FP32", "shape": [-1, _N + 1]},
]


class Contribs(StrEnum):
    NONE = "none"
    ALL = "all"
    ADVERSE = "adverse"


@dataclass(frozen=True)
class Tensor:
    """One input tensor as received: JSON data (nested list or array) or raw little-endian bytes."""

    name: str
    datatype: str
    shape: list[int]
    data: Any = None
    raw: bytes | memoryview | None = None
    where: str = "inputs[0]"


@dataclass(frozen=True)
class Decoded:
    matrix: np.ndarray
    contribs: Contribs = Contribs.NONE
    request_id: str | None = None
    # Requested outputs as (name, binary); None = the default set (contributions only if asked).
    outputs: tuple[tuple[str, bool], ...] | None = None
    binary: bool = False


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, index: int | None, field: str, message: str) -> None:
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(FieldProblem(index, field, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidApplication(self.items)


def _fail(field: str, message: str, index: int | None = None) -> InvalidApplication:
    return InvalidApplication([FieldProblem(index, field, message)])


# --------------------------------------------------------------------------- v2 decoding
def _loads(body: bytes | memoryview) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _fail("body", f"is not valid JSON: {exc}") from exc


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
            raise _fail("inference-header-content-length", f"must be the JSON header length (1..{len(body)})")
        view = memoryview(body)
        doc, raw = _loads(view[:n]), view[n:]
    else:
        doc = _loads(body)
    if not isinstance(doc, dict):
        raise _fail("body", "must be a JSON object with 'inputs'")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise _fail("parameters", "must be an object")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _fail("inputs", "must be a non-empty list of tensors")
    problems = _Problems()
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
        raise _fail("outputs", "must be a non-empty list of {name} objects")
    problems = _Problems()
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
        raise _fail("parameters.pred_contribs", 'must be true, false or "adverse"')
    if mode is Contribs.NONE and outputs is not None and any(name == "contributions" for name, _ in outputs):
        mode = Contribs.ALL  # asking for the output is asking for it to be computed
    return mode


def decode_infer_request(request: Any, max_rows: int) -> Decoded:
    """A KServe ``InferRequest`` (gRPC, or REST through KServe's own route)."""
    from kserve.protocol.infer_type import to_http_parameters

    params = to_http_parameters(request.parameters) if request.parameters else {}
    problems = _Problems()
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


# --------------------------------------------------------------------------- tensors -> matrix
def to_matrix(tensors: list[Tensor], params: Mapping[str, Any], max_rows: int) -> np.ndarray:
    """The float32 ``[N, 18]`` model matrix from the decoded tensors (validated)."""
    content_type = params.get("content_type")
    if content_type == "pd":
        matrix = _named_matrix(tensors, max_rows)
    elif content_type not in (None, "np"):
        raise _fail("parameters.content_type", 'must be "pd" (one tensor per feature) or absent')
    elif len(tensors) == 1 and tensors[0].name == FEATURE_TENSOR:
        matrix = _feature_matrix(tensors[0], max_rows)
    else:
        got = ", ".join(repr(t.name) for t in tensors)
        raise _fail(
            "inputs",
            f"send one FP32/FP64 tensor {FEATURE_TENSOR!r} of shape [N, {_N}], or one tensor "
            f'per feature with parameters.content_type "pd"; got {got}',
        )
    _check_values(matrix)
    return matrix


def _rows(n: int, max_rows: int, field: str) -> None:
    if n < 1:
        raise _fail(field, "must hold at least one row")
    if n > max_rows:
        raise _fail(field, f"has {n} rows; at most {max_rows} per request")


def _feature_matrix(t: Tensor, max_rows: int) -> np.ndarray:
    if t.datatype not in _MATRIX_TYPES:
        raise _fail(f"{t.where}.datatype", f"must be FP32 or FP64, got {t.datatype}")
    if len(t.shape) != 2 or t.shape[1] != _N:
        raise _fail(f"{t.where}.shape", f"must be [N, {_N}] (features in model order), got {t.shape}")
    n = t.shape[0]
    _rows(n, max_rows, f"{t.where}.shape")
    values = _numbers(t)
    if values.size != n * _N:
        raise _fail(f"{t.where}.data", f"has {values.size} values; shape {t.shape} needs {n * _N}")
    return np.ascontiguousarray(values.reshape(n, _N), dtype=np.float32)


def _named_matrix(tensors: list[Tensor], max_rows: int) -> np.ndarray:
    problems = _Problems()
    n_rows: int | None = None
    columns: dict[str, np.ndarray] = {}
    for t in tensors:
        if t.name not in _INDEX:
            problems.add(
                None, f"{t.where}.name", f"unknown input {t.name!r}; expected the model features {_NAMES}"
            )
            continue
        if t.name in columns:
            problems.add(None, f"{t.where}.name", f"{t.name!r} appears more than once")
            continue
        if not (len(t.shape) == 1 or (len(t.shape) == 2 and t.shape[1] == 1)):
            problems.add(None, f"{t.where}.shape", f"must be [N] or [N, 1], got {t.shape}")
            continue
        n = t.shape[0]
        if n_rows is None:
            n_rows = n
            _rows(n, max_rows, f"{t.where}.shape")
        elif n != n_rows:
            problems.add(None, f"{t.where}.shape", f"has {n} rows; other inputs have {n_rows}")
            continue
        try:
            column = _column(t)
        except InvalidApplication as exc:
            problems.items.extend(exc.problems)
            continue
        if column.size != n:
            problems.add(None, f"{t.where}.data", f"has {column.size} values; shape {t.shape} needs {n}")
            continue
        columns[t.name] = column
    missing = [name for name in _NAMES if name not in columns]
    if missing and not problems.items:
        problems.add(None, "inputs", f"missing model features: {', '.join(missing)}")
    problems.raise_if_any()
    assert n_rows is not None
    matrix = np.empty((n_rows, _N), dtype=np.float32)
    for name, column in columns.items():
        matrix[:, _INDEX[name]] = column
    return matrix


def _column(t: Tensor) -> np.ndarray:
    is_category = t.name in CATEGORICAL_LEVELS
    if t.datatype == "BYTES":
        if not is_category:
            raise _fail(f"{t.where}.datatype", f"{t.name} is numeric: use FP32/FP64/INT*, not BYTES")
        return _level_codes(t.name, _strings(t), t.where)
    if t.datatype not in _RAW_DTYPES:
        raise _fail(
            f"{t.where}.datatype",
            f"must be FP32, FP64, INT* or UINT*{' or BYTES' if is_category else ''}, got {t.datatype}",
        )
    return _numbers(t).astype(np.float32)


def _numbers(t: Tensor) -> np.ndarray:
    """Flat numeric array from raw bytes or JSON (``null`` becomes NaN)."""
    if t.raw is not None:
        dtype = _RAW_DTYPES.get(t.datatype)
        if dtype is None or len(t.raw) % dtype.itemsize:
            raise _fail(
                f"{t.where}.parameters.binary_data_size", f"is not a whole number of {t.datatype} values"
            )
        arr = np.frombuffer(t.raw, dtype=dtype)
        # A tensor after another one in the body may start at an odd offset: copy it aligned.
        return arr if arr.flags.aligned else arr.copy()
    data = t.data
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, list):
        try:
            arr = np.asarray(data)
        except ValueError as exc:
            raise _fail(f"{t.where}.data", "is ragged: nested lists of different lengths") from exc
    else:
        raise _fail(f"{t.where}.data", "must be a list of numbers")
    kind = arr.dtype.kind
    if kind in "fiu":
        return arr.reshape(-1)
    if kind == "O":
        flat = arr.reshape(-1)
        for i, v in enumerate(flat):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise _fail(
                    f"{t.where}.data[{i}]", f"must be a number or null (missing), got {type(v).__name__}"
                )
        return np.array([math.nan if v is None else v for v in flat], dtype=np.float64)
    got = {"U": "text", "S": "text", "b": "booleans"}.get(kind, arr.dtype.name)
    raise _fail(f"{t.where}.data", f"must hold numbers (null = missing), got {got}")


def _strings(t: Tensor) -> list[str | None]:
    if t.raw is not None:
        return [s.decode("utf-8", errors="replace") for s in _unpack_bytes(t.raw, t.where)]
    data = t.data
    items = data.reshape(-1).tolist() if isinstance(data, np.ndarray) else _flatten(data, t.where)
    out: list[str | None] = []
    for i, v in enumerate(items):
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, bytes):
            out.append(v.decode("utf-8", errors="replace"))
        else:
            raise _fail(
                f"{t.where}.data[{i}]", f"must be a level name string or null, got {type(v).__name__}"
            )
    return out


def _flatten(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise _fail(f"{where}.data", "must be a list")
    out: list[Any] = []
    for v in data:
        if isinstance(v, list):
            out.extend(_flatten(v, where))
        else:
            out.append(v)
    return out


def _unpack_bytes(raw: bytes | memoryview, where: str) -> list[bytes]:
    """The binary extension's BYTES layout: each element is a 4-byte little-endian length + bytes."""
    view = memoryview(raw)
    out: list[bytes] = []
    pos = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise _fail(f"{where}.parameters.binary_data_size", "truncated BYTES element")
        size = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + size > len(view):
            raise _fail(f"{where}.parameters.binary_data_size", "truncated BYTES element")
        out.append(bytes(view[pos : pos + size]))
        pos += size
    return out


def _level_codes(name: str, values: Iterable[str | None], where: str) -> np.ndarray:
    codes = _LEVEL_CODES[name]
    out: list[float] = []
    problems = _Problems()
    for i, v in enumerate(values):
        if v is None:
            out.append(math.nan)
            continue
        code = codes.get(v)
        if code is None:
            problems.add(
                i, name, f"unknown level {v!r}; expected one of {list(CATEGORICAL_LEVELS[name])} or null"
            )
            out.append(math.nan)
        else:
            out.append(code)
    problems.raise_if_any()
    return np.array(out, dtype=np.float32)


def _check_values(matrix: np.ndarray) -> None:
    """Numbers must be finite or NaN (missing); category codes whole numbers within the levels."""
    infinite = np.isinf(matrix)
    cats = matrix[:, _CAT_COLUMNS]
    with np.errstate(invalid="ignore"):
        bad_cat = ~np.isnan(cats) & ((cats < 0) | (cats >= _CAT_SIZES) | (cats != np.floor(cats)))
    if not (infinite.any() or bad_cat.any()):
        return
    problems = _Problems()
    for row, col in np.argwhere(infinite)[:_MAX_PROBLEMS]:
        problems.add(int(row), _NAMES[col], "must be a finite number (NaN or null = missing)")
    for row, k in np.argwhere(bad_cat)[:_MAX_PROBLEMS]:
        name = _NAMES[_CAT_COLUMNS[k]]
        problems.add(
            int(row),
            name,
            f"category code must be a whole number 0..{int(_CAT_SIZES[k]) - 1} "
            f"({', '.join(CATEGORICAL_LEVELS[name])}) or missing",
        )
    problems.raise_if_any()


# --------------------------------------------------------------------------- v1 decoding
def decode_v1(body: bytes | Mapping[str, Any], max_rows: int) -> Decoded:
    """``{"instances": [[18 numbers] | {feature: value}, ...], "parameters": {...}}``."""
    doc = _loads(body) if isinstance(body, bytes | bytearray | memoryview) else body
    if not isinstance(doc, Mapping):
        raise _fail("body", "must be a JSON object with 'instances'")
    params = doc.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise _fail("parameters", "must be an object")
    instances = doc.get("instances")
    if not isinstance(instances, list):
        raise _fail("instances", "must be a list of rows")
    _rows(len(instances), max_rows, "instances")
    if all(isinstance(row, list) for row in instances):
        bad = [i for i, row in enumerate(instances) if len(row) != _N]
        if bad:
            raise InvalidApplication(
                [
                    FieldProblem(i, "instance", f"must hold {_N} values in model order: {_NAMES}")
                    for i in bad[:_MAX_PROBLEMS]
                ]
            )
        values = _numbers(
            Tensor("instances", "FP64", [len(instances), _N], data=instances, where="instances")
        )
        matrix = np.ascontiguousarray(values.reshape(len(instances), _N), dtype=np.float32)
    elif all(isinstance(row, Mapping) for row in instances):
        matrix = _object_rows(instances)
    else:
        raise _fail("instances", "rows must all be lists (model order) or all be objects (feature: value)")
    _check_values(matrix)
    return Decoded(matrix=matrix, contribs=_contribs(params.get("pred_contribs"), None))


def _object_rows(rows: list[Mapping[str, Any]]) -> np.ndarray:
    # A feature absent from an object is missing (NaN), like a JSON null.
    matrix = np.full((len(rows), _N), np.nan, dtype=np.float32)
    problems = _Problems()
    for i, row in enumerate(rows):
        for key, value in row.items():
            j = _INDEX.get(key)
            if j is None:
                problems.add(i, str(key), "unknown feature")
            elif value is None:
                continue
            elif isinstance(value, str) and key in _LEVEL_CODES:
                code = _LEVEL_CODES[key].get(value)
                if code is None:
                    problems.add(
                        i, key, f"unknown level {value!r}; expected one of {list(CATEGORICAL_LEVELS[key])}"
                    )
                else:
                    matrix[i, j] = code
            elif isinstance(value, int | float) and not isinstance(value, bool):
                matrix[i, j] = value
            else:
                problems.add(
                    i, key, "must be a number or null" + (" or a level name" if key in _LEVEL_CODES else "")
                )
    problems.raise_if_any()
    return matrix


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

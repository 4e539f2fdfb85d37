"""Tensors to the model matrix: the validation every protocol shares.

Whatever the protocol, the request's tensors (``serving.v2.Tensor``, from REST JSON, the binary
extension or gRPC alike) become one float32 matrix ``[N, F]`` in ``credit_scoring.features``
order with NaN for missing values. Every problem is collected as a
field-level ``FieldProblem`` and raised as one ``InvalidApplication`` (HTTP 400 /
INVALID_ARGUMENT): numbers must be finite or missing, category codes whole numbers within the
declared levels, level names known.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from credit_scoring.errors import MAX_PROBLEMS, InvalidApplication, Problems, fail
from credit_scoring.features import CATEGORICAL_LEVELS, MODEL_FEATURES, Kind, feature_names
from serving.v2 import DATATYPES, Tensor
from serving.v2.tensors import unpack_bytes

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_TENSOR",
    "N_FEATURES",
    "check_values",
    "numbers",
    "object_rows",
    "require_rows",
    "to_matrix",
]

FEATURE_TENSOR = "features"
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
# Numbers may come in any numeric datatype (BOOL is not a number here).
_NUMERIC = frozenset(DATATYPES) - {"BOOL"}
# Per column: the range of legal values (missing aside). Numbers: any finite float32; category
# codes: 0 .. levels - 1.
_LOWER = np.full(_N, -np.finfo(np.float32).max, dtype=np.float32)
_UPPER = np.full(_N, np.finfo(np.float32).max, dtype=np.float32)
_LOWER[_CAT_COLUMNS] = 0
_UPPER[_CAT_COLUMNS] = _CAT_SIZES - 1
_IS_CATEGORY = np.zeros(_N, dtype=bool)
_IS_CATEGORY[_CAT_COLUMNS] = True
_MATRIX_TYPES = ("FP32", "FP64")
N_FEATURES = _N
FEATURE_NAMES = tuple(_NAMES)


def to_matrix(tensors: list[Tensor], params: Mapping[str, Any], max_rows: int) -> np.ndarray:
    """The float32 ``[N, 18]`` model matrix from the decoded tensors (validated)."""
    content_type = params.get("content_type")
    if content_type == "pd":
        matrix = _named_matrix(tensors, max_rows)
    elif content_type not in (None, "np"):
        raise fail("parameters.content_type", 'must be "pd" (one tensor per feature) or absent')
    elif len(tensors) == 1 and tensors[0].name == FEATURE_TENSOR:
        matrix = _feature_matrix(tensors[0], max_rows)
    else:
        got = ", ".join(repr(t.name) for t in tensors)
        raise fail(
            "inputs",
            f"send one FP32/FP64 tensor {FEATURE_TENSOR!r} of shape [N, {_N}], or one tensor "
            f'per feature with parameters.content_type "pd"; got {got}',
        )
    check_values(matrix)
    return matrix


def require_rows(n: int, max_rows: int, field: str) -> None:
    if n < 1:
        raise fail(field, "must hold at least one row")
    if n > max_rows:
        raise fail(field, f"has {n} rows; at most {max_rows} per request")


def _feature_matrix(t: Tensor, max_rows: int) -> np.ndarray:
    if t.datatype not in _MATRIX_TYPES:
        raise fail(f"{t.where}.datatype", f"must be FP32 or FP64, got {t.datatype}")
    if len(t.shape) != 2 or t.shape[1] != _N:
        raise fail(f"{t.where}.shape", f"must be [N, {_N}] (features in model order), got {t.shape}")
    n = t.shape[0]
    require_rows(n, max_rows, f"{t.where}.shape")
    values = numbers(t)
    if values.size != n * _N:
        raise fail(f"{t.where}.data", f"has {values.size} values; shape {t.shape} needs {n * _N}")
    return np.ascontiguousarray(values.reshape(n, _N), dtype=np.float32)


def _named_matrix(tensors: list[Tensor], max_rows: int) -> np.ndarray:
    problems = Problems()
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
            require_rows(n, max_rows, f"{t.where}.shape")
        elif n != n_rows:
            problems.add(None, f"{t.where}.shape", f"has {n} rows; other inputs have {n_rows}")
            continue
        try:
            column = _column(t)
        except InvalidApplication as exc:
            problems.extend(exc.problems)
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
            raise fail(f"{t.where}.datatype", f"{t.name} is numeric: use FP32/FP64/INT*, not BYTES")
        return _level_codes(t.name, _strings(t), t.where)
    if t.datatype not in _NUMERIC:
        raise fail(
            f"{t.where}.datatype",
            f"must be FP32, FP64, INT* or UINT*{' or BYTES' if is_category else ''}, got {t.datatype}",
        )
    return numbers(t).astype(np.float32)


def numbers(t: Tensor) -> np.ndarray:
    """Flat numeric array from raw bytes or JSON (``null`` becomes NaN)."""
    if t.raw is not None:
        dtype = DATATYPES.get(t.datatype) if t.datatype in _NUMERIC else None
        if dtype is None or len(t.raw) % dtype.itemsize:
            raise fail(
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
            raise fail(f"{t.where}.data", "is ragged: nested lists of different lengths") from exc
    else:
        raise fail(f"{t.where}.data", "must be a list of numbers")
    kind = arr.dtype.kind
    if kind in "fiu":
        return arr.reshape(-1)
    if kind == "O":
        flat = arr.reshape(-1)
        for i, v in enumerate(flat):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise fail(
                    f"{t.where}.data[{i}]", f"must be a number or null (missing), got {type(v).__name__}"
                )
        return np.array([math.nan if v is None else v for v in flat], dtype=np.float64)
    got = {"U": "text", "S": "text", "b": "booleans"}.get(kind, arr.dtype.name)
    raise fail(f"{t.where}.data", f"must hold numbers (null = missing), got {got}")


def _strings(t: Tensor) -> list[str | None]:
    if t.raw is not None:
        try:
            elements = unpack_bytes(t.raw)
        except ValueError as exc:
            raise fail(f"{t.where}.parameters.binary_data_size", str(exc)) from exc
        return [s.decode("utf-8", errors="replace") for s in elements]
    data = t.data
    items = data.reshape(-1).tolist() if isinstance(data, np.ndarray) else _flatten(data, t.where)
    out: list[str | None] = []
    for i, v in enumerate(items):
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, bytes):
            out.append(v.decode("utf-8", errors="replace"))
        else:
            raise fail(f"{t.where}.data[{i}]", f"must be a level name string or null, got {type(v).__name__}")
    return out


def _flatten(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise fail(f"{where}.data", "must be a list")
    out: list[Any] = []
    for v in data:
        if isinstance(v, list):
            out.extend(_flatten(v, where))
        else:
            out.append(v)
    return out


def _level_codes(name: str, values: Iterable[str | None], where: str) -> np.ndarray:
    codes = _LEVEL_CODES[name]
    out: list[float] = []
    problems = Problems()
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


def check_values(matrix: np.ndarray) -> None:
    """Numbers must be finite or NaN (missing); category codes whole numbers within the levels."""
    with np.errstate(invalid="ignore"):
        # Fast path, a handful of vector ops: NaN compares False, so missing values pass.
        if not (((matrix < _LOWER) | (matrix > _UPPER)).any() or ((matrix % 1 > 0) & _IS_CATEGORY).any()):
            return
    infinite = np.isinf(matrix)
    cats = matrix[:, _CAT_COLUMNS]
    with np.errstate(invalid="ignore"):
        bad_cat = ~np.isnan(cats) & ((cats < 0) | (cats >= _CAT_SIZES) | (cats != np.floor(cats)))
    if not (infinite.any() or bad_cat.any()):
        return
    problems = Problems()
    for row, col in np.argwhere(infinite)[:MAX_PROBLEMS]:
        problems.add(int(row), _NAMES[col], "must be a finite number (NaN or null = missing)")
    for row, k in np.argwhere(bad_cat)[:MAX_PROBLEMS]:
        name = _NAMES[_CAT_COLUMNS[k]]
        problems.add(
            int(row),
            name,
            f"category code must be a whole number 0..{int(_CAT_SIZES[k]) - 1} "
            f"({', '.join(CATEGORICAL_LEVELS[name])}) or missing",
        )
    problems.raise_if_any()


def object_rows(rows: list[Mapping[str, Any]]) -> np.ndarray:
    # A feature absent from an object is missing (NaN), like a JSON null.
    matrix = np.full((len(rows), _N), np.nan, dtype=np.float32)
    problems = Problems()
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

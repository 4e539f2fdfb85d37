"""Validation of a whole chunk at once, from the schema's own constraints, with the online messages.

The rules are read off ``credit_scoring.schema.Application`` (each field's type and its
``min_length``/``max_length``/``pattern``/``gt``/``ge``/``lt``/``le`` constraints, strict types, no
NaN or infinity, and the cross-field rule ``amount_within_price``) and applied as column
operations. Rows that break any of them are then handed, one by one, to the schema's own
``check_application``, the function the online path reports problems with, so a rejected row
carries exactly the field-level messages a request with the same values gets (and the schema
stays the authority: a row it accepts is scored). Rejects are rare, so this costs nothing.

Each cell is judged as the same value in a JSON request would be: Parquet integers are JSON
integers, floats are numbers, strings are strings, nulls are null. A CSV cell is a number when
it is written as one (``12`` an integer, ``12.5`` or ``1e3`` a float), otherwise text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import annotated_types
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batch.inputs import APPLICATION_ID, FIELDS, TIMESTAMP
from credit_scoring.errors import FieldProblem
from credit_scoring.schema import Application, amount_within_price, check_application

__all__ = ["REJECT_SCHEMA", "RULES", "Checked", "FieldRule", "ValidRows", "validate"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a cell is, as JSON would see it.
_NULL, _INT, _FLOAT, _STR, _BOOL, _OTHER = range(6)
_CSV_INT = r"^[+-]?[0-9]+$"
_CSV_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
TIMESTAMP_MESSAGE = "Input should be a valid datetime"


@dataclass(frozen=True)
class FieldRule:
    """One field's type and constraints, as the schema declares them."""

    name: str
    kind: type
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    bounds: tuple[tuple[str, float], ...] = ()
    """(operator, value): ``gt``, ``ge``, ``lt``, ``le``."""


def _rule(name: str) -> FieldRule:
    field = Application.model_fields[name]
    kind = field.annotation
    if kind not in (str, float, int):
        raise TypeError(f"Application.{name}: type {kind} has no vectorised check")
    rule: dict[str, Any] = {"name": name, "kind": kind}
    bounds: list[tuple[str, float]] = []
    for meta in field.metadata:
        if isinstance(meta, annotated_types.MinLen):
            rule["min_length"] = meta.min_length
        elif isinstance(meta, annotated_types.MaxLen):
            rule["max_length"] = meta.max_length
        elif getattr(meta, "pattern", None) is not None:
            rule["pattern"] = meta.pattern
        elif isinstance(
            meta, (annotated_types.Gt, annotated_types.Ge, annotated_types.Lt, annotated_types.Le)
        ):
            op = type(meta).__name__.lower()
            bounds.append((op, float(getattr(meta, op))))
        else:
            raise TypeError(f"Application.{name}: constraint {meta!r} has no vectorised check")
    return FieldRule(**rule, bounds=tuple(bounds))


RULES: tuple[FieldRule, ...] = tuple(_rule(name) for name in FIELDS)
# The schema's only model-level rule; tests/batch/test_validation.py fails if another appears.
CROSS_FIELD: Callable[[Any, Any], Any] = amount_within_price
_CONFIG = Application.model_config
if not (_CONFIG.get("strict") and _CONFIG.get("allow_inf_nan") is False):
    raise TypeError("the vectorised checks assume a strict schema without NaN/infinity")

REJECT_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), metadata={"doc": "0-based row of the input file"}),
        pa.field(APPLICATION_ID, pa.string()),
        *(pa.field(name, pa.string()) for name in FIELDS),
        pa.field(TIMESTAMP, pa.string()),
        pa.field(
            "problems",
            pa.list_(pa.struct([("field", pa.string()), ("message", pa.string())])),
            nullable=False,
        ),
    ]
)


@dataclass(frozen=True)
class ValidRows:
    """The rows to score, normalised."""

    row: np.ndarray  # int64, 0-based rows of the input file
    application_id: pa.Array  # string (null where not given)
    applicant_id: pa.Array  # string
    request: dict[str, np.ndarray]  # amount, price, term as float64
    at_ns: np.ndarray  # int64 point in time of the features (UTC ns)


@dataclass(frozen=True)
class Checked:
    valid: ValidRows
    rejects: pa.RecordBatch


@dataclass(frozen=True)
class _Cells:
    kind: np.ndarray  # int8 per row, what the cell is as JSON
    number: np.ndarray  # float64 (NaN where not a number)
    text: pa.Array | None  # the strings, for string cells


def _cells(column: pa.Array, csv_numbers: bool) -> _Cells:
    n = len(column)
    null = column.is_null().to_numpy(zero_copy_only=False)
    kind = np.full(n, _OTHER, dtype=np.int8)
    number = np.full(n, np.nan)
    text = None
    t = column.type
    if pa.types.is_integer(t):
        kind[:] = _INT
        number = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_floating(t):
        kind[:] = _FLOAT
        number = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_boolean(t):
        kind[:] = _BOOL
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = pc.cast(column, pa.string())
        kind[:] = _STR
        if csv_numbers:
            is_int = pc.match_substring_regex(text, _CSV_INT).fill_null(False).to_numpy(zero_copy_only=False)
            is_num = (
                pc.match_substring_regex(text, _CSV_FLOAT).fill_null(False).to_numpy(zero_copy_only=False)
            )
            kind[is_num] = _FLOAT
            kind[is_int] = _INT
            parsed = pc.cast(pc.if_else(pa.array(is_num), text, pa.scalar(None, pa.string())), pa.float64())
            number = parsed.to_numpy(zero_copy_only=False)
    kind[null] = _NULL
    return _Cells(kind, np.asarray(number, dtype=np.float64), text)


def _compare(values: np.ndarray, op: str, bound: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        result: np.ndarray = {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}[
            op
        ](values, bound)
    return result


def _field_ok(rule: FieldRule, cells: _Cells) -> np.ndarray:
    if rule.kind is str:
        ok = cells.kind == _STR
        if cells.text is None:
            return ok
        text = cells.text
        length = pc.utf8_length(text).fill_null(-1).to_numpy(zero_copy_only=False)
        if rule.min_length is not None:
            ok &= length >= rule.min_length
        if rule.max_length is not None:
            ok &= length <= rule.max_length
        if rule.pattern is not None:
            # RE2 here, Rust's regex in pydantic: both anchor ``$`` at the very end of the text.
            ok &= pc.match_substring_regex(text, rule.pattern).fill_null(False).to_numpy(zero_copy_only=False)
        return ok
    ok = (
        cells.kind == _INT
        if rule.kind is int
        else np.isin(cells.kind, (_INT, _FLOAT)) & np.isfinite(cells.number)
    )
    for op, bound in rule.bounds:
        ok &= _compare(cells.number, op, bound)
    return ok


def _timestamps(column: pa.Array | None, as_of: datetime | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(UTC ns per row, ok per row): ``as_of`` for every row, else the column (naive = UTC)."""
    if as_of is not None:
        ns = (as_of - _EPOCH) // timedelta(microseconds=1) * 1000
        return np.full(n, ns, dtype=np.int64), np.ones(n, dtype=bool)
    assert column is not None
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        import pandas as pd

        parsed = pd.to_datetime(
            pd.Series(column.to_numpy(zero_copy_only=False)), utc=True, errors="coerce", format="ISO8601"
        )
        column = pa.array(parsed, type=pa.timestamp("ns", "UTC"))
    elif pa.types.is_date(column.type):
        column = pc.cast(column, pa.timestamp("s"))
    elif not pa.types.is_timestamp(column.type):
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    column = pc.cast(column, pa.timestamp("ns", column.type.tz))
    ok = column.is_valid().to_numpy(zero_copy_only=False)
    ns = pc.cast(column, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    return np.asarray(ns, dtype=np.int64), ok


def _json_value(cells: _Cells, original: pa.Array, i: int) -> Any:
    kind = cells.kind[i]
    if kind == _NULL:
        return None
    if kind == _INT and cells.text is not None:
        return int(cells.text[i].as_py())
    if kind == _FLOAT and cells.text is not None:
        return float(cells.text[i].as_py())
    return original[i].as_py()


def validate(batch: pa.RecordBatch, rows: np.ndarray, as_of: datetime | None, csv: bool) -> Checked:
    """Split a chunk into the rows to score and the rejected rows (with every problem of each).

    ``rows`` numbers the chunk's rows in the input for the rejects file (the local engine counts
    them, Spark reads them from Parquet files; -1 where unknown: Spark reading CSV).
    """
    n = batch.num_rows
    names = batch.schema.names
    cells = {rule.name: _cells(batch.column(rule.name), csv and rule.kind is not str) for rule in RULES}
    fields_ok = np.ones(n, dtype=bool)
    for rule in RULES:
        fields_ok &= _field_ok(rule, cells[rule.name])
    amount, price = cells["amount"].number, cells["price"].number
    with np.errstate(invalid="ignore"):
        ok = fields_ok & CROSS_FIELD(amount, price)
    at_ns, time_ok = _timestamps(batch.column(TIMESTAMP) if TIMESTAMP in names else None, as_of, n)
    ok &= time_ok

    rejected: list[tuple[int, list[FieldProblem]]] = []
    for i in np.flatnonzero(~ok).tolist():
        raw = {rule.name: _json_value(cells[rule.name], batch.column(rule.name), i) for rule in RULES}
        checked = check_application(raw)
        problems = [] if isinstance(checked, Application) else list(checked)
        if not time_ok[i]:
            problems.append(FieldProblem(None, TIMESTAMP, TIMESTAMP_MESSAGE))
        if problems:
            rejected.append((i, problems))
        else:  # the schema accepts what the columns flagged: it is the authority
            ok[i] = True
    keep = np.flatnonzero(ok)
    take = pa.array(keep)
    ids = (
        pc.cast(batch.column(APPLICATION_ID), pa.string()).take(take)
        if APPLICATION_ID in names
        else pa.nulls(len(keep), pa.string())
    )
    valid = ValidRows(
        row=rows[keep],
        application_id=ids,
        applicant_id=pc.cast(batch.column("applicant_id"), pa.string()).take(take),
        request={
            name: np.ascontiguousarray(cells[name].number[keep]) for name in ("amount", "price", "term")
        },
        at_ns=at_ns[keep],
    )
    return Checked(valid, _rejects(batch, rejected, rows))


def _as_text(column: pa.Array, rows: pa.Array) -> pa.Array:
    picked = column.take(rows)
    try:
        return pc.cast(picked, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in picked.to_pylist()], pa.string())


def _rejects(
    batch: pa.RecordBatch, rejected: list[tuple[int, list[FieldProblem]]], numbers: np.ndarray
) -> pa.RecordBatch:
    positions = np.array([i for i, _ in rejected], dtype=np.int64)
    rows = pa.array(positions, pa.int64())
    picked = numbers[positions]
    # -1: the engine does not know the row's position (Spark reading CSV).
    columns: list[pa.Array] = [pa.array(picked, pa.int64(), mask=picked < 0)]
    for name in (APPLICATION_ID, *FIELDS, TIMESTAMP):
        if name in batch.schema.names:
            columns.append(_as_text(batch.column(name), rows))
        else:
            columns.append(pa.nulls(len(rejected), pa.string()))
    columns.append(
        pa.array(
            [[{"field": p.field, "message": p.message} for p in problems] for _, problems in rejected],
            REJECT_SCHEMA.field("problems").type,
        )
    )
    return pa.RecordBatch.from_arrays(columns, schema=REJECT_SCHEMA)

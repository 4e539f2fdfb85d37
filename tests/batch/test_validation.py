"""Vectorised validation rejects exactly the rows the schema rejects, with the online messages.

For every reject class (each constraint of each field, each wrong JSON type, null, NaN, infinity,
the cross-field rule, several problems at once), the columns' verdict equals the schema's, row
by row, and each rejected row's problems equal what the online parser (``parse_applications``,
the transformer's) reports for the same values in a request. The same holds for CSV cells.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from batch.validation import RULES, validate
from credit_scoring.errors import InvalidApplication
from credit_scoring.schema import Application, parse_applications

OK = {"applicant_id": "A1", "amount": 1000.0, "price": 1500.0, "term": 36}

# One row per reject class: (what is wrong, the application as JSON would carry it).
CASES: list[tuple[str, dict[str, object]]] = [
    ("valid", OK),
    ("valid: integer amount", {**OK, "amount": 1000}),
    ("valid: amount equals price", {**OK, "amount": 1500.0}),
    ("valid: bounds", {**OK, "amount": 1e6, "price": 1e6, "term": 120}),
    ("valid: term 1", {**OK, "term": 1}),
    ("valid: id of 64", {**OK, "applicant_id": "A" * 64}),
    ("valid: id punctuation", {**OK, "applicant_id": "a_b.c:d-e"}),
    ("id empty", {**OK, "applicant_id": ""}),
    ("id too long", {**OK, "applicant_id": "A" * 65}),
    ("id pattern start", {**OK, "applicant_id": "-A1"}),
    ("id pattern char", {**OK, "applicant_id": "A 1"}),
    ("id non-ascii", {**OK, "applicant_id": "Aé"}),
    ("id newline at end", {**OK, "applicant_id": "A1\n"}),
    ("id null", {**OK, "applicant_id": None}),
    ("amount zero", {**OK, "amount": 0.0}),
    ("amount negative", {**OK, "amount": -5.0}),
    ("amount above max", {**OK, "amount": 1e6 + 1, "price": 2e6}),
    ("amount NaN", {**OK, "amount": math.nan}),
    ("amount infinite", {**OK, "amount": math.inf}),
    ("amount null", {**OK, "amount": None}),
    ("price zero", {**OK, "price": 0.0}),
    ("price above max", {**OK, "price": 2e6}),
    ("price -infinite", {**OK, "price": -math.inf}),
    ("term zero", {**OK, "term": 0}),
    ("term above max", {**OK, "term": 121}),
    ("term negative", {**OK, "term": -3}),
    ("term null", {**OK, "term": None}),
    ("amount above price", {**OK, "amount": 2000.0}),
    ("several at once", {"applicant_id": "", "amount": -1.0, "price": math.nan, "term": 500}),
    ("field error hides the cross-field rule", {**OK, "amount": 2000.0, "term": 0}),
]


def _online_problems(raw: dict[str, object]) -> list[tuple[str, str]]:
    try:
        parse_applications([raw], max_batch=10)
    except InvalidApplication as exc:
        return [(p.field, p.message) for p in exc.problems]
    return []


def _table(rows: list[dict[str, object]], types: dict[str, pa.DataType]) -> pa.RecordBatch:
    columns = {name: pa.array([r.get(name) for r in rows], types[name]) for name in types}
    return pa.RecordBatch.from_pydict(columns)


def _batch_problems(checked, n: int) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in range(n)}
    for row in checked.rejects.to_pylist():
        out[row["row"]] = [(p["field"], p["message"]) for p in row["problems"]]
    return out


def test_every_schema_field_and_constraint_has_a_rule():
    # application_id is the portfolio's own row id, carried through as given (batch.inputs).
    assert [r.name for r in RULES] == [n for n in Application.model_fields if n != "application_id"]
    by_name = {r.name: r for r in RULES}
    assert by_name["applicant_id"].pattern
    assert by_name["applicant_id"].max_length == 64
    assert ("gt", 0.0) in by_name["amount"].bounds
    assert ("le", 1e6) in by_name["amount"].bounds
    assert by_name["term"].kind is int


def test_the_schema_has_no_model_rule_the_columns_do_not_check():
    """A new model validator in the schema must get its vectorised twin (batch.validation.CROSS_FIELD)."""
    validators = Application.__pydantic_decorators__.model_validators
    assert set(validators) == {"_amount_within_price"}


def test_typed_columns_reject_what_the_online_parser_rejects_with_its_messages():
    rows = [raw for _, raw in CASES]
    batch = _table(
        rows,
        {"applicant_id": pa.string(), "amount": pa.float64(), "price": pa.float64(), "term": pa.int64()},
    )
    checked = validate(batch, np.arange(len(rows)), datetime(2025, 1, 1, tzinfo=UTC), csv=False)
    got = _batch_problems(checked, len(rows))
    for i, (what, raw) in enumerate(CASES):
        assert got[i] == _online_problems(raw), what
    assert set(checked.valid.row.tolist()) == {i for i, (w, _) in enumerate(CASES) if w.startswith("valid")}


@pytest.mark.parametrize(
    ("column", "values", "arrow_type"),
    [
        ("term", [36.0, 12.5], pa.float64()),  # a float is no integer, even 36.0 (as in JSON)
        ("amount", ["1000", "x"], pa.string()),  # a string is no number
        ("amount", [True, False], pa.bool_()),
        ("applicant_id", [1, 2], pa.int64()),  # a number is no string
        ("term", [36, 12], pa.int32()),  # any integer width is an integer (valid)
        ("amount", [1000, 900], pa.int64()),  # integers are numbers (valid)
    ],
)
def test_arrow_types_are_judged_as_json_types(column, values, arrow_type):
    rows = [{**OK, column: v} for v in values]
    types = {"applicant_id": pa.string(), "amount": pa.float64(), "price": pa.float64(), "term": pa.int64()}
    batch = _table(rows, {**types, column: arrow_type})
    checked = validate(batch, np.arange(len(rows)), datetime(2025, 1, 1, tzinfo=UTC), csv=False)
    got = _batch_problems(checked, len(rows))
    for i, raw in enumerate(rows):
        assert got[i] == _online_problems(raw), (column, values[i])


CSV_CASES = [
    # (cells as text, the JSON application they stand for)
    (
        {"applicant_id": "A1", "amount": "1000", "price": "1500.5", "term": "36"},
        {**OK, "amount": 1000, "price": 1500.5},
    ),
    (
        {"applicant_id": "A1", "amount": "1e3", "price": "1500", "term": "36"},
        {**OK, "amount": 1000.0, "price": 1500},
    ),
    (
        {"applicant_id": "A1", "amount": "1,000", "price": "1500", "term": "36"},
        {**OK, "amount": "1,000", "price": 1500},
    ),
    (
        {"applicant_id": "A1", "amount": "1000", "price": "1500", "term": "36.0"},
        {**OK, "amount": 1000, "price": 1500, "term": 36.0},
    ),
    (
        {"applicant_id": "A1", "amount": None, "price": "1500", "term": "x"},
        {**OK, "amount": None, "price": 1500, "term": "x"},
    ),
    (
        {"applicant_id": "007", "amount": "-2", "price": "nan", "term": "0"},
        {"applicant_id": "007", "amount": -2, "price": "nan", "term": 0},
    ),
    (
        {"applicant_id": None, "amount": "2000", "price": "1500", "term": "36"},
        {"applicant_id": None, "amount": 2000, "price": 1500, "term": 36},
    ),
    (
        {"applicant_id": "A1", "amount": "2000", "price": "1500", "term": "36"},
        {**OK, "amount": 2000, "price": 1500},
    ),
]


def test_csv_cells_are_numbers_when_written_as_numbers():
    rows = [cells for cells, _ in CSV_CASES]
    batch = _table(rows, {name: pa.string() for name in ("applicant_id", "amount", "price", "term")})
    checked = validate(batch, np.arange(len(rows)), datetime(2025, 1, 1, tzinfo=UTC), csv=True)
    got = _batch_problems(checked, len(rows))
    for i, (cells, raw) in enumerate(CSV_CASES):
        assert got[i] == _online_problems(raw), cells
    assert checked.valid.row.tolist() == [0, 1]
    assert checked.valid.request["amount"].tolist() == [1000.0, 1000.0]


def test_application_timestamp_is_required_without_as_of_and_rejected_when_unreadable():
    batch = pa.RecordBatch.from_pydict(
        {
            "applicant_id": ["A1", "A2", "A3"],
            "amount": [1000.0, 1000.0, 1000.0],
            "price": [1500.0, 1500.0, 1500.0],
            "term": [36, 36, 36],
            "application_timestamp": ["2024-05-01T10:00:00Z", "yesterday", None],
        }
    )
    checked = validate(batch, np.arange(3), None, csv=True)
    got = _batch_problems(checked, 3)
    assert got[0] == []
    assert got[1] == got[2] == [("application_timestamp", "Input should be a valid datetime")]
    assert checked.valid.at_ns.tolist() == [int(datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp()) * 10**9]


def test_rejects_keep_the_row_number_and_the_values_as_given():
    batch = _table(
        [OK, {**OK, "amount": -1.0}],
        {"applicant_id": pa.string(), "amount": pa.float64(), "price": pa.float64(), "term": pa.int64()},
    )
    checked = validate(batch, np.array([500, 501]), datetime(2025, 1, 1, tzinfo=UTC), csv=False)
    (reject,) = checked.rejects.to_pylist()
    assert reject["row"] == 501
    assert reject["amount"] == "-1"
    assert reject["applicant_id"] == "A1"
    assert checked.valid.row.tolist() == [500]

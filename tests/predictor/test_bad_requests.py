"""Bad requests get a 4xx with a message naming the problem, never a 500 or a stack trace."""

from __future__ import annotations

import httpx
import orjson
import pytest

from credit_scoring import features as F

# One valid model row, by name (the contract's order decides the positions).
VALUES = {
    "seniority": 9, "home": 0, "records": 0, "job": 0, "expenses": 73, "income": 129, "assets": 0,
    "debt": 0, "amount": 800, "term": 60, "loan_to_value": 0.945, "instalment": 13.3,
    "instalment_to_income": 0.1, "debt_to_income": 0, "expense_ratio": 0.56, "net_worth": 0,
}  # fmt: skip
ROW = [VALUES[name] for name in F.feature_names()]
N = len(F.MODEL_FEATURES)
V2 = "/v2/models/credit-risk/infer"
V1 = "/v1/models/credit-risk:predict"


def features(data: object = None, shape: object = None, datatype: str = "FP32", **extra: object) -> dict:
    tensor = {
        "name": "features",
        "datatype": datatype,
        "shape": [1, N] if shape is None else shape,
        "data": ROW if data is None else data,
    }
    return {"inputs": [tensor], **extra}


def named(
    overrides: dict[str, dict] | None = None, drop: tuple[str, ...] = (), extra: tuple[dict, ...] = ()
) -> dict:
    inputs = []
    for name, value in zip(F.feature_names(), ROW, strict=True):
        if name in drop:
            continue
        tensor = {"name": name, "datatype": "FP64", "shape": [1], "data": [value]}
        tensor.update((overrides or {}).get(name, {}))
        inputs.append(tensor)
    return {"parameters": {"content_type": "pd"}, "inputs": [*inputs, *extra]}


def row_with(index: int, value: object) -> list[object]:
    row: list[object] = list(ROW)
    row[index] = value
    return row


HOME = F.feature_names().index("home")

CASES = [
    ("malformed JSON", V2, b"{not json", {}, "not valid JSON"),
    ("body is a list", V2, [], {}, "JSON object"),
    ("no inputs", V2, {"parameters": {}}, {}, "inputs"),
    ("empty inputs", V2, {"inputs": []}, {}, "non-empty"),
    ("input is a string", V2, {"inputs": ["features"]}, {}, "inputs[0]"),
    (
        "no data",
        V2,
        {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, N]}]},
        {},
        "is missing",
    ),
    ("negative shape", V2, features(shape=[-1, N]), {}, "non-negative"),
    ("wrong tensor name", V2, {"inputs": [{**features()["inputs"][0], "name": "feats"}]}, {}, "'features'"),
    ("INT32 matrix", V2, features(datatype="INT32"), {}, "FP32 or FP64"),
    ("one column short", V2, features(data=ROW[:-1], shape=[1, N - 1]), {}, f"[N, {N}]"),
    ("1-D shape", V2, features(shape=[N]), {}, f"[N, {N}]"),
    ("data shorter than shape", V2, features(shape=[2, N]), {}, f"needs {2 * N}"),
    ("zero rows", V2, features(data=[], shape=[0, N]), {}, "at least one row"),
    ("too many rows", V2, features(data=[], shape=[10_001, N]), {}, "at most 10000"),
    ("string value", V2, features(data=row_with(6, "129")), {}, "numbers (null = missing), got text"),
    ("object value", V2, features(data=row_with(6, {"v": 1})), {}, "must be a number or null"),
    ("booleans", V2, features(data=[True] * N), {}, "got booleans"),
    ("ragged rows", V2, features(data=[ROW, ROW[:3]], shape=[2, N]), {}, "ragged"),
    ("category code out of range", V2, features(data=row_with(HOME, 7)), {}, "category code"),
    ("category code not whole", V2, features(data=row_with(HOME, 1.5)), {}, "category code"),
    ("overflow to infinity", V2, features(data=row_with(6, 1e300)), {}, "finite"),
    ("bad pred_contribs", V2, features(parameters={"pred_contribs": "sometimes"}), {}, "pred_contribs"),
    ("adverse is gone", V2, features(parameters={"pred_contribs": "adverse"}), {}, "explain_margin_above"),
    (
        "bad explain margin",
        V2,
        features(parameters={"explain_margin_above": "x"}),
        {},
        "explain_margin_above",
    ),
    ("bad content_type", V2, features(parameters={"content_type": "xml"}), {}, "content_type"),
    ("unknown output", V2, features(outputs=[{"name": "score"}]), {}, "outputs[0].name"),
    (
        "named: unknown feature",
        V2,
        named(extra=({"name": "salary", "datatype": "FP64", "shape": [1], "data": [1]},)),
        {},
        "unknown input 'salary'",
    ),
    (
        "named: missing features",
        V2,
        named(drop=("income", "debt")),
        {},
        "missing model features: income, debt",
    ),
    ("named: unknown level", V2, named({"home": {"datatype": "BYTES", "data": ["castle"]}}), {}, "'castle'"),
    (
        "named: BYTES for a number",
        V2,
        named({"income": {"datatype": "BYTES", "data": ["129"]}}),
        {},
        "is numeric",
    ),
    (
        "named: row counts differ",
        V2,
        named({"debt": {"shape": [2], "data": [0, 0]}}),
        {},
        "other inputs have 1",
    ),
    (
        "binary: bad header length",
        V2,
        orjson.dumps(features()),
        {"inference-header-content-length": "x"},
        "inference-header-content-length",
    ),
    (
        "binary: size beyond body",
        V2,
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [1, N],
                        "parameters": {"binary_data_size": 72},
                    }
                ]
            }
        )
        + b"\0" * 8,
        {"inference-header-content-length": "_json_"},
        "does not fit",
    ),
    ("v1: instances not a list", V1, {"instances": {"income": 1}}, {}, "instances"),
    ("v1: no instances", V1, {"instances": []}, {}, "at least one row"),
    ("v1: short row", V1, {"instances": [ROW, ROW[:-1]]}, {}, f"must hold {N} values"),
    ("v1: unknown feature", V1, {"instances": [{"income": 100, "salary": 5}]}, {}, "unknown feature"),
    ("v1: unknown level", V1, {"instances": [{"home": "castle"}]}, {}, "unknown level"),
    ("v1: mixed rows", V1, {"instances": [ROW, {"income": 1}]}, {}, "all be lists"),
    ("v1: malformed JSON", V1, b'{"instances": [', {}, "not valid JSON"),
]


@pytest.mark.parametrize(("case", "path", "body", "headers", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_400_naming_the_problem(predictor, case, path, body, headers, expected):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    if headers.get("inference-header-content-length") == "_json_":
        headers = {**headers, "inference-header-content-length": str(content.index(b"}]}") + 3)}
    response = httpx.post(
        f"{predictor.url}{path}",
        content=content,
        timeout=30,
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == 400, (case, response.status_code, response.text)
    doc = response.json()
    assert expected in doc["error"], (case, doc)
    assert doc["problems"]
    assert all({"index", "field", "message"} <= set(p) for p in doc["problems"])
    assert "Traceback" not in response.text


def test_problems_are_listed_by_row_and_feature(predictor):
    rows = [ROW, row_with(HOME, 9), row_with(F.feature_names().index("income"), 1e300)]
    response = httpx.post(f"{predictor.url}{V2}", timeout=30, json=features(data=rows, shape=[3, N]))
    assert response.status_code == 400
    problems = {(p["index"], p["field"]) for p in response.json()["problems"]}
    assert problems == {(1, "home"), (2, "income")}


def test_unknown_model_is_404(predictor):
    response = httpx.post(f"{predictor.url}/v2/models/not-a-model/infer", json=features(), timeout=30)
    assert response.status_code == 404


def test_missing_values_are_legal(predictor):
    """null (JSON) is missing, which the model handles natively: a thin-file row scores."""
    response = httpx.post(f"{predictor.url}{V2}", json=features(data=[None] * N), timeout=30)
    assert response.status_code == 200, response.text
    assert 0.0 < response.json()["outputs"][0]["data"][0] < 1.0

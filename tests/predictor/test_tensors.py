"""Decoding without a server: the matrix and explain request each protocol form yields, and what
is refused."""

from __future__ import annotations

import math
import re

import numpy as np
import orjson
import pytest

from credit_scoring import features as F
from credit_scoring.errors import InvalidApplication
from predictor.codec import Query, query_from_v1, query_from_v2
from predictor.tensors import to_matrix
from serving.v2 import Tensor, rest

N = len(F.MODEL_FEATURES)
HOME = F.feature_names().index("home")


def _matrix(rows: int = 2) -> np.ndarray:
    rng = np.random.default_rng(0)
    m = rng.uniform(0, 100, size=(rows, N)).astype(np.float32)
    for j, f in enumerate(F.MODEL_FEATURES):
        if f.kind is F.Kind.CATEGORY:
            m[:, j] = rng.integers(0, len(F.CATEGORICAL_LEVELS[f.name]), size=rows)
    m[0, 5] = np.nan
    return m


def decode_v2(body: bytes, headers: dict[bytes, bytes], max_rows: int) -> Query:
    """What the fast v2 route does with a body."""
    length = rest.json_length(headers.get(b"inference-header-content-length"), len(body))
    return query_from_v2(rest.decode_request(body, length), max_rows)


def _binary_body(matrix: np.ndarray, **parameters: object) -> tuple[bytes, dict[bytes, bytes]]:
    raw = matrix.astype("<f4").tobytes()
    header = orjson.dumps(
        {
            "parameters": parameters,
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": list(matrix.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
        }
    )
    return header + raw, {b"inference-header-content-length": str(len(header)).encode()}


def test_json_and_binary_matrix_decode_to_the_same_float32_matrix():
    m = _matrix()
    json_body = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP64",
                    "shape": [2, N],
                    "data": [[None if math.isnan(v) else float(v) for v in r] for r in m],
                }
            ]
        }
    )
    from_json = decode_v2(json_body, {}, 100)
    body, headers = _binary_body(m, explain_margin_above=-0.5)
    from_binary = decode_v2(body, headers, 100)
    for decoded in (from_json, from_binary):
        assert decoded.matrix.dtype == np.float32
        np.testing.assert_array_equal(decoded.matrix, m)
    assert not from_json.explain.any
    assert from_binary.explain.margin_above == -0.5


def test_binary_tensor_at_an_odd_offset_is_read_correctly():
    """A tensor after a BYTES tensor in the binary body can start at any byte: it is copied aligned."""
    m = _matrix()
    view = memoryview(b"\0" + m.astype("<f4").tobytes())[1:]
    tensor = Tensor("features", "FP32", list(m.shape), raw=view)
    np.testing.assert_array_equal(to_matrix([tensor], {}, 100), m)


def test_named_tensors_bytes_levels_and_codes_agree():
    m = _matrix(3)
    by_codes, by_levels = [], []
    for j, f in enumerate(F.MODEL_FEATURES):
        col = [None if math.isnan(v) else float(v) for v in m[:, j]]
        by_codes.append(Tensor(f.name, "FP32", [3], data=col, where=f"inputs[{j}]"))
        if f.kind is F.Kind.CATEGORY:
            levels = F.CATEGORICAL_LEVELS[f.name]
            strings = [levels[int(v)].encode() for v in m[:, j]]  # gRPC hands BYTES over as bytes
            by_levels.append(Tensor(f.name, "BYTES", [3, 1], data=np.array(strings, dtype=object)))
        else:
            by_levels.append(Tensor(f.name, "FP64", [3], data=np.array(m[:, j], dtype=np.float64)))
    a = to_matrix(by_codes, {"content_type": "pd"}, 10)
    b = to_matrix(by_levels[::-1], {"content_type": "pd"}, 10)
    np.testing.assert_array_equal(a, m)
    np.testing.assert_array_equal(b, m)


def test_v1_objects_absent_keys_are_missing():
    decoded = query_from_v1(
        {"instances": [{"income": 120, "home": "owner"}], "parameters": {"pred_contribs": True}}, 10
    )
    row = decoded.matrix[0]
    names = F.feature_names()
    assert row[names.index("income")] == 120
    assert row[names.index("home")] == F.CATEGORICAL_LEVELS["home"].index("owner")
    assert np.isnan(row[names.index("debt")])
    assert decoded.explain.all


@pytest.mark.parametrize(
    ("value", "everything"), [(None, False), (False, False), ("false", False), (True, True), ("TRUE", True)]
)
def test_pred_contribs_values(value, everything):
    body = orjson.dumps(
        {
            "parameters": {"pred_contribs": value},
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, N], "data": [0.0] * N}],
        }
    )
    assert decode_v2(body, {}, 10).explain.all is everything


def test_explain_request_with_rows_margin_and_version():
    """The caller's explain request: a BOOL row mask, a margin (number, or decimal string as gRPC
    carries it) and the version it was derived from."""
    m = _matrix(3)
    for margin in (-0.25, "-0.25"):
        body = orjson.dumps(
            {
                "parameters": {"explain_margin_above": margin, "explain_for_version": "7"},
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [3, N],
                        "data": np.nan_to_num(m).tolist(),
                    },
                    {"name": "explain_rows", "datatype": "BOOL", "shape": [3], "data": [False, True, False]},
                ],
            }
        )
        explain = decode_v2(body, {}, 10).explain
        assert (explain.margin_above, explain.for_version) == (-0.25, "7")
        assert explain.rows is not None
        assert explain.rows.tolist() == [False, True, False]
        margins = np.array([-1.0, -1.0, 0.0])
        assert explain.select(margins, "7").tolist() == [False, True, True]
        assert explain.select(margins, "8").tolist() == [True, True, True]  # another version: every row


@pytest.mark.parametrize(
    ("parameters", "rows", "expected"),
    [
        ({"pred_contribs": "adverse"}, None, '"adverse" is gone'),
        ({"pred_contribs": "sometimes"}, None, "must be true or false"),
        ({"explain_margin_above": "high"}, None, "explain_margin_above"),
        ({"explain_for_version": 7}, None, "explain_for_version"),
        ({}, {"datatype": "FP32", "shape": [1], "data": [1.0]}, "must be BOOL"),
        ({}, {"datatype": "BOOL", "shape": [2], "data": [True, False]}, "must be [1]"),
    ],
)
def test_bad_explain_requests_name_the_parameter(parameters, rows, expected):
    inputs: list[dict[str, object]] = [
        {"name": "features", "datatype": "FP32", "shape": [1, N], "data": [0.0] * N}
    ]
    if rows is not None:
        inputs.append({"name": "explain_rows", **rows})
    body = orjson.dumps({"parameters": parameters, "inputs": inputs})
    with pytest.raises(InvalidApplication, match=re.escape(expected)):
        decode_v2(body, {}, 10)


def test_requesting_the_contributions_output_computes_them():
    body = orjson.dumps(
        {
            "outputs": [{"name": "contributions", "parameters": {"binary_data": True}}],
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, N], "data": [0.0] * N}],
        }
    )
    decoded = decode_v2(body, {}, 10)
    assert decoded.explain.all
    assert decoded.outputs == (("contributions", True),)


def test_many_problems_are_all_reported_by_row_and_feature():
    m = _matrix(4)
    m[1, HOME] = 42
    m[3, 6] = np.inf
    with pytest.raises(InvalidApplication) as info:
        to_matrix([Tensor("features", "FP32", [4, N], data=m)], {}, 10)
    assert {(p.index, p.field) for p in info.value.problems} == {(1, "home"), (3, F.feature_names()[6])}
    assert "instances[1].home" in str(info.value)


def test_truncated_bytes_element_is_refused():
    tensor = Tensor("home", "BYTES", [1], raw=(10).to_bytes(4, "little") + b"own")
    with pytest.raises(InvalidApplication, match="truncated BYTES element"):
        to_matrix([tensor], {"content_type": "pd"}, 10)

"""Decoding without a server: the matrix each protocol form yields, and what is refused."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from credit_scoring import features as F
from credit_scoring.errors import InvalidApplication
from predictor.codec import Contribs, decode_v1, decode_v2
from predictor.tensors import Tensor, to_matrix

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
    body, headers = _binary_body(m, pred_contribs="adverse")
    from_binary = decode_v2(body, headers, 100)
    for decoded in (from_json, from_binary):
        assert decoded.matrix.dtype == np.float32
        np.testing.assert_array_equal(decoded.matrix, m)
    assert from_json.contribs is Contribs.NONE
    assert from_binary.contribs is Contribs.ADVERSE


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
    decoded = decode_v1(
        {"instances": [{"income": 120, "home": "owner"}], "parameters": {"pred_contribs": True}}, 10
    )
    row = decoded.matrix[0]
    names = F.feature_names()
    assert row[names.index("income")] == 120
    assert row[names.index("home")] == F.CATEGORICAL_LEVELS["home"].index("owner")
    assert np.isnan(row[names.index("debt")])
    assert decoded.contribs is Contribs.ALL


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, Contribs.NONE),
        (False, Contribs.NONE),
        ("false", Contribs.NONE),
        (True, Contribs.ALL),
        ("TRUE", Contribs.ALL),
        ("adverse", Contribs.ADVERSE),
    ],
)
def test_pred_contribs_values(value, mode):
    body = orjson.dumps(
        {
            "parameters": {"pred_contribs": value},
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, N], "data": [0.0] * N}],
        }
    )
    assert decode_v2(body, {}, 10).contribs is mode


def test_requesting_the_contributions_output_computes_them():
    body = orjson.dumps(
        {
            "outputs": [{"name": "contributions", "parameters": {"binary_data": True}}],
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, N], "data": [0.0] * N}],
        }
    )
    decoded = decode_v2(body, {}, 10)
    assert decoded.contribs is Contribs.ALL
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

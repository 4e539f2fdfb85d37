"""Decoding of v1/v2 bodies: every golden bad payload names its problem; good bodies decode."""

from __future__ import annotations

import orjson
import pytest

from credit_scoring.errors import InvalidApplication
from tests.transformer.payload_cases import CASES, BadPayload
from transformer.payloads import V2Input, check_media_type, decode_v1, decode_v2, decode_v2_inputs

GOOD = {"applicant_id": "A1B2C3", "amount": 1000.0, "price": 1500.0, "term": 36}


def _decode(case: BadPayload) -> None:
    if case.protocol == "v1":
        decode_v1(case.body, case.content_type, max_batch=1000)
    else:
        decode_v2(case.body, {"content-type": case.content_type}, max_batch=1000)


def test_there_are_enough_distinct_bad_payloads():
    assert len({c.id for c in CASES}) == len(CASES) >= 25
    assert len({(c.protocol, c.content_type, c.body) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_payload_names_its_problem(case: BadPayload):
    with pytest.raises(InvalidApplication) as caught:
        _decode(case)
    answer = {"problems": [p.as_dict() for p in caught.value.problems]}
    assert caught.value.status_code == case.status
    assert case.matches(answer), answer


def test_v1_decodes_applications_in_order():
    body = orjson.dumps({"instances": [GOOD, {**GOOD, "applicant_id": "B2", "term": 12}]})
    request = decode_v1(body, "application/json; charset=utf-8", max_batch=10)
    assert [a.applicant_id for a in request.applications] == ["A1B2C3", "B2"]
    assert request.applications[1].term == 12
    assert request.protocol == "v1"


def test_every_problem_of_every_instance_is_listed():
    body = orjson.dumps({"instances": [{**GOOD, "amount": -1}, GOOD, {**GOOD, "term": "x", "foo": 1}]})
    with pytest.raises(InvalidApplication) as caught:
        decode_v1(body, None, max_batch=10)
    found = {(p.index, p.field) for p in caught.value.problems}
    assert found == {(0, "amount"), (2, "term"), (2, "foo")}


def test_v2_bytes_applications_and_named_inputs_agree():
    as_bytes = {
        "id": "r-1",
        "inputs": [
            {
                "name": "applications",
                "datatype": "BYTES",
                "shape": [2],
                "data": [orjson.dumps(GOOD).decode(), {**GOOD, "applicant_id": "B2"}],
            }
        ],
    }
    as_columns = {
        "inputs": [
            {"name": "applicant_id", "datatype": "BYTES", "shape": [2, 1], "data": [["A1B2C3"], ["B2"]]},
            {"name": "amount", "datatype": "FP32", "shape": [2], "data": [1000.0, 1000.0]},
            {"name": "price", "datatype": "FP64", "shape": [2], "data": [1500, 1500]},
            {"name": "term", "datatype": "INT32", "shape": [2], "data": [36, 36]},
        ]
    }
    one = decode_v2(orjson.dumps(as_bytes), {"content-type": "application/json"}, max_batch=10)
    two = decode_v2(orjson.dumps(as_columns), {}, max_batch=10)
    assert one.applications == two.applications
    assert one.request_id == "r-1"
    assert two.request_id is None


def test_v2_binary_extension_is_read_with_kserve():
    import numpy as np
    from kserve.protocol.infer_type import InferInput, InferRequest

    inputs = [
        InferInput("applicant_id", [1], "BYTES"),
        InferInput("amount", [1], "FP64"),
        InferInput("price", [1], "FP64"),
        InferInput("term", [1], "INT64"),
    ]
    inputs[0].set_data_from_numpy(np.array([b"A1B2C3"], dtype=np.object_), binary_data=True)
    inputs[1].set_data_from_numpy(np.array([1000.0]), binary_data=True)
    inputs[2].set_data_from_numpy(np.array([1500.0]), binary_data=True)
    inputs[3].set_data_from_numpy(np.array([36], dtype=np.int64), binary_data=True)
    body, json_length = InferRequest(model_name="credit-scoring", infer_inputs=inputs).to_rest()
    assert isinstance(body, bytes)
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(json_length),
    }
    request = decode_v2(body, headers, max_batch=10)
    assert request.applications[0].model_dump(exclude_none=True) == GOOD


def test_batch_limit_is_a_setting():
    rows = [V2Input("applications", "BYTES", [3], [orjson.dumps(GOOD).decode()] * 3)]
    assert len(decode_v2_inputs(rows, max_batch=3)) == 3
    with pytest.raises(InvalidApplication, match="at most 2"):
        decode_v2_inputs(rows, max_batch=2)


@pytest.mark.parametrize("content_type", [None, "", "application/json", "APPLICATION/JSON; charset=utf-8"])
def test_json_content_types_are_accepted(content_type):
    check_media_type(content_type)

"""Decoding of v1/v2 bodies: every golden bad payload names its problem; good bodies decode."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from credit_scoring.errors import InvalidApplication
from serving.v2 import InferenceRequest, Tensor
from serving.v2.rest import check_media_type
from tests.transformer.payload_cases import CASES, BadPayload
from transformer.payloads import ApplicationBatch, RawBody, decode, decode_v2

GOOD = {"applicant_id": "A1B2C3", "amount": 1000.0, "price": 1500.0, "term": 36}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def _raw(
    protocol: str, body: bytes, content_type: str | None = "application/json", **extra: str
) -> ApplicationBatch:
    return decode(RawBody(protocol, body, content_type, extra.get("inference_header")), 1000)  # type: ignore[arg-type]


def _decode(case: BadPayload) -> None:
    _raw(case.protocol, case.body, case.content_type)


def test_golden_cases_are_distinct_and_the_docs_count_them_right():
    """Data hygiene, named as such: no case repeats another, and docs/serving.md states how many
    bad requests the golden file holds (the behaviour is ``test_bad_payload_names_its_problem``)."""
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(c.protocol, c.content_type, c.body) for c in CASES}) == len(CASES)
    (stated,) = re.findall(r"bad_payloads\.json` holds (\d+)", " ".join(DOCS.read_text().split()))
    assert int(stated) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_payload_names_its_problem(case: BadPayload):
    with pytest.raises(InvalidApplication) as caught:
        _decode(case)
    answer = {"problems": [p.as_dict() for p in caught.value.problems]}
    assert caught.value.status_code == case.status
    assert case.matches(answer), answer


def test_v1_decodes_applications_in_order():
    body = orjson.dumps({"instances": [GOOD, {**GOOD, "applicant_id": "B2", "term": 12}]})
    request = _raw("v1", body, "application/json; charset=utf-8")
    assert [a.applicant_id for a in request.applications] == ["A1B2C3", "B2"]
    assert request.applications[1].term == 12
    assert request.protocol == "v1"


def test_every_problem_of_every_instance_is_listed():
    body = orjson.dumps({"instances": [{**GOOD, "amount": -1}, GOOD, {**GOOD, "term": "x", "foo": 1}]})
    with pytest.raises(InvalidApplication) as caught:
        _raw("v1", body, None)
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
    one = _raw("v2", orjson.dumps(as_bytes))
    two = _raw("v2", orjson.dumps(as_columns), None)
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
    request = _raw("v2", body, "application/octet-stream", inference_header=str(json_length))
    assert request.applications[0].model_dump(exclude_none=True) == GOOD
    # The same request through KServe's own types (its REST route and gRPC hand these over).
    through_kserve = decode(InferRequest.from_bytes(body, json_length, "credit-scoring"), 10)
    assert through_kserve.applications == request.applications


def test_batch_limit_is_a_setting():
    rows = InferenceRequest([Tensor("applications", "BYTES", [3], data=[orjson.dumps(GOOD).decode()] * 3)])
    assert len(decode_v2(rows, max_batch=3)) == 3
    with pytest.raises(InvalidApplication, match="at most 2"):
        decode_v2(rows, max_batch=2)


@pytest.mark.parametrize("content_type", [None, "", "application/json", "APPLICATION/JSON; charset=utf-8"])
def test_json_content_types_are_accepted(content_type):
    check_media_type(content_type)


@pytest.mark.parametrize(
    ("protocol", "doc", "field"),
    [
        ("v1", {"instances": [GOOD], "": 1}, '""'),
        ("v1", {"instances": [{**GOOD, "": 1}]}, '""'),
        ("v2", {"inputs": [], "": 1}, '""'),
        (
            "v2",
            {"inputs": [{"name": "applications", "datatype": "BYTES", "shape": [1], "data": [], "": 0}]},
            'inputs[0].""',
        ),
        ("v1", {"instances": [GOOD], "k" * 500: 1}, "k" * 61 + "..."),
    ],
)
def test_an_unknown_key_is_named_even_when_empty_or_huge(protocol: str, doc: dict, field: str):
    """Found by tests/transformer/test_fuzz.py: an empty unknown key gave a problem whose field
    was empty, and a long one was echoed whole."""
    with pytest.raises(InvalidApplication) as caught:
        _raw(protocol, orjson.dumps(doc))
    assert field in [p.field for p in caught.value.problems]

"""The wire module (``serving.v2``) against KServe's own encoder and decoder, both directions.

For the same message, our REST encoder writes exactly the bytes KServe's ``to_rest`` writes
(JSON header, key order, binary layout), for requests and responses, with binary tensors and
with JSON data; and each side decodes the other's bytes to the same tensors. The one documented
difference: FP32 data in JSON is written with each float32's shortest repr (KServe widens to
float64 first), so there the bytes differ and the test proves both read back the same float32.
gRPC goes through KServe's types on both sides; the round trip through them is checked too.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from serving.v2 import InferenceRequest, InferenceResponse, RequestedOutput, Tensor, rest
from serving.v2.kserve import from_kserve_request, from_kserve_response, grpc_request, to_kserve_response

RNG = np.random.default_rng(4)
MATRIX = RNG.normal(size=(3, 5)).astype(np.float32)
MATRIX[1, 2] = np.nan
ARRAYS = {
    "fp32": ("FP32", MATRIX),
    "fp64": ("FP64", RNG.normal(size=4)),
    "int64": ("INT64", np.array([1, -2, 3], dtype=np.int64)),
    "int32": ("INT32", np.array([[7], [8]], dtype=np.int32)),
    "uint8": ("UINT8", np.array([0, 255], dtype=np.uint8)),
    "bool": ("BOOL", np.array([True, False, True])),
    "bytes": ("BYTES", np.array([b"owner", "écu".encode(), b""], dtype=np.object_)),
}
JSON_EXACT = [k for k in ARRAYS if k != "fp32"]


def _ours(name: str) -> Tensor:
    datatype, array = ARRAYS[name]
    return Tensor(name, datatype, list(array.shape), data=array)


def _kserve_input(name: str, binary: bool) -> InferInput:
    datatype, array = ARRAYS[name]
    tensor = InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _kserve_output(name: str, binary: bool) -> InferOutput:
    datatype, array = ARRAYS[name]
    tensor = InferOutput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _kserve_request_bytes(names: list[str], binary: bool, **kwargs: object) -> tuple[bytes, int | None]:
    request = InferRequest(
        model_name="m", infer_inputs=[_kserve_input(n, binary) for n in names], request_id="r-1", **kwargs
    )
    body, length = request.to_rest()
    return (body, length) if isinstance(body, bytes) else (orjson.dumps(body), None)


def _kserve_response_bytes(names: list[str], binary: bool) -> tuple[bytes, int | None]:
    response = InferResponse(
        response_id="r-1",
        model_name="m",
        model_version="7",
        infer_outputs=[_kserve_output(n, binary) for n in names],
        parameters={"model_alias": "champion", "count": 3, "flag": True},
        use_binary_outputs=binary,
    )
    body, length = response.to_rest()
    return (body, length) if isinstance(body, bytes) else (orjson.dumps(body), None)


def _assert_same(tensor_values: np.ndarray, name: str) -> None:
    datatype, array = ARRAYS[name]
    got = np.asarray(tensor_values).reshape(array.shape)
    if datatype == "BYTES":
        got = np.array(
            [v if isinstance(v, bytes) else str(v).encode() for v in got.reshape(-1)], dtype=object
        )
        assert got.tolist() == array.reshape(-1).tolist()
    else:
        np.testing.assert_array_equal(got.astype(array.dtype), array)


# --------------------------------------------------------------------------- bytes equal
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_request_bytes_equal_kserves(binary: bool):
    names = list(ARRAYS) if binary else JSON_EXACT
    params = {"pred_contribs": True, "explain_for_version": "7"}
    ours = InferenceRequest(
        inputs=[_ours(n) for n in names],
        parameters=params,
        outputs=[RequestedOutput("probability", {"binary_data": True})],
        id="r-1",
        model_name="m",
    )
    from kserve.protocol.infer_type import RequestedOutput as KServeRequestedOutput

    expected = _kserve_request_bytes(
        names,
        binary,
        parameters=params,
        request_outputs=[KServeRequestedOutput("probability", {"binary_data": True})],
    )
    assert rest.encode_request(ours, binary=binary) == expected


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_response_bytes_equal_kserves(binary: bool):
    names = list(ARRAYS) if binary else JSON_EXACT
    ours = InferenceResponse(
        model_name="m",
        outputs=[
            Tensor(n, ARRAYS[n][0], list(ARRAYS[n][1].shape), data=ARRAYS[n][1], binary=binary) for n in names
        ],
        model_version="7",
        id="r-1",
        parameters={"model_alias": "champion", "count": 3, "flag": True},
    )
    assert rest.encode_response(ours) == _kserve_response_bytes(names, binary)
    # Parameters serialised once ahead (the predictor does it per model version): same bytes.
    ours.parameters_json = orjson.dumps(ours.parameters)
    assert rest.encode_response(ours) == _kserve_response_bytes(names, binary)


def test_fp32_json_differs_only_in_float_formatting():
    ours, _ = rest.encode_request(InferenceRequest(inputs=[_ours("fp32")], id="r-1", model_name="m"))
    theirs, _ = _kserve_request_bytes(["fp32"], binary=False)
    assert ours != theirs  # shortest float32 repr vs float64 repr of the widened value
    for body in (ours, theirs):
        _assert_same(rest.decode_request(body).inputs[0].as_numpy(), "fp32")
        _assert_same(InferRequest.from_bytes(body, len(body), "m").inputs[0].as_numpy(), "fp32")


# --------------------------------------------------------------------------- each decodes the other
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_we_decode_kserves_requests_and_responses(binary: bool):
    names = list(ARRAYS) if binary else JSON_EXACT
    body, length = _kserve_request_bytes(names, binary, parameters={"content_type": "pd"})
    request = rest.decode_request(body, length)
    assert (request.id, request.model_name, request.parameters) == ("r-1", "m", {"content_type": "pd"})
    for tensor in request.inputs:
        _assert_same(tensor.as_numpy(), tensor.name)
    body, length = _kserve_response_bytes(names, binary)
    response = rest.decode_response(body, length)
    assert (response.id, response.model_name, response.model_version) == ("r-1", "m", "7")
    assert response.parameters == {"model_alias": "champion", "count": 3, "flag": True}
    for tensor in response.outputs:
        _assert_same(tensor.as_numpy(), tensor.name)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_decodes_our_requests_and_responses(binary: bool):
    names = list(ARRAYS) if binary else JSON_EXACT
    body, length = rest.encode_request(
        InferenceRequest(inputs=[_ours(n) for n in names], id="r-1"), binary=binary
    )
    theirs = InferRequest.from_bytes(body, length or len(body), "m")
    assert theirs.id == "r-1"
    for tensor in theirs.inputs:
        _assert_same(tensor.as_numpy(), tensor.name)
    outputs = [
        Tensor(n, ARRAYS[n][0], list(ARRAYS[n][1].shape), data=ARRAYS[n][1], binary=binary) for n in names
    ]
    body, length = rest.encode_response(InferenceResponse("m", outputs, "7", "r-1"))
    decoded = InferResponse.from_bytes(body, length or len(body))
    assert decoded.id == "r-1"
    for tensor in decoded.outputs:
        _assert_same(tensor.as_numpy(), tensor.name)


# --------------------------------------------------------------------------- KServe's types (gRPC)
def test_grpc_round_trip_through_kserves_types():
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

    names = list(ARRAYS)
    ours = InferenceRequest(
        inputs=[_ours(n) for n in names],
        parameters={"explain_margin_above": -0.25, "pred_contribs": False},
        id="g",
    )
    message = grpc_request(ours, "m")
    assert isinstance(message, pb.ModelInferRequest)
    # gRPC parameters have no float: the margin travels as its exact decimal string.
    assert message.parameters["explain_margin_above"].string_param == repr(-0.25)
    back = from_kserve_request(InferRequest.from_grpc(message))
    assert back.parameters == {"explain_margin_above": "-0.25", "pred_contribs": False}
    for tensor in back.inputs:
        assert tensor.raw is not None  # raw_input_contents stay bytes
        _assert_same(tensor.as_numpy(), tensor.name)
    response = InferenceResponse(
        "m",
        [Tensor(n, ARRAYS[n][0], list(ARRAYS[n][1].shape), data=ARRAYS[n][1]) for n in names],
        "7",
        "g",
        parameters={"model_alias": "champion"},
    )
    kserve_response = to_kserve_response(response, InferRequest.from_grpc(message))
    decoded = from_kserve_response(InferResponse.from_grpc(kserve_response.to_grpc()))
    assert (decoded.model_version, decoded.id, decoded.parameters) == ("7", "g", {"model_alias": "champion"})
    for tensor in decoded.outputs:
        _assert_same(tensor.as_numpy(), tensor.name)


def test_binary_tensors_are_views_of_the_body_not_copies():
    body, length = rest.encode_request(InferenceRequest(inputs=[_ours("fp32")]), binary=True)
    tensor = rest.decode_request(body, length).inputs[0]
    assert isinstance(tensor.raw, memoryview)
    assert tensor.raw.obj is body


@pytest.mark.parametrize("params", [1.5, "x", [], True])
def test_tensor_parameters_that_are_not_an_object_are_a_field_problem(params):
    """Found by tests/transformer/test_fuzz.py: a non-object tensor ``parameters`` was a 500."""
    from credit_scoring.errors import InvalidApplication

    body = {"inputs": [{"name": "a", "datatype": "BYTES", "shape": [1], "data": ["x"], "parameters": params}]}
    with pytest.raises(InvalidApplication) as caught:
        rest.decode_request(orjson.dumps(body))
    assert [p.field for p in caught.value.problems] == ["inputs[0].parameters"]

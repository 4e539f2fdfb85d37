"""Request bodies in, validated applications out: the v1 and v2 decoding boundary.

Everything a client can get wrong is reported here as an ``InvalidApplication`` listing every
problem by instance index and field, so no malformed body ever reaches a hook that could turn it
into a 500. Validation of each application is the shared contract's
(``credit_scoring.schema.parse_applications``); this module only gets the rows out of the
protocol's envelope.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from credit_scoring.errors import FieldProblem, InvalidApplication
from credit_scoring.schema import Application, parse_applications

__all__ = [
    "APPLICATIONS_INPUT",
    "JSON_MEDIA_TYPES",
    "ScoringRequest",
    "UnsupportedMediaType",
    "V2Input",
    "decode_v1",
    "decode_v2",
    "decode_v2_inputs",
    "request_id_from",
]

APPLICATIONS_INPUT = "applications"
JSON_MEDIA_TYPES = frozenset({"application/json", "application/cloudevents+json", "application/ld+json"})
BINARY_MEDIA_TYPE = "application/octet-stream"
INFERENCE_HEADER = "inference-header-content-length"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(headers: Mapping[str, str]) -> str:
    """The caller's ``x-request-id`` when it is a sane token (it ends up in logs and the inference
    log), else a fresh one. Every entry point (fast REST routes, KServe's routes, gRPC) uses it."""
    given = headers.get("x-request-id")
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


_FIELDS: tuple[str, ...] = tuple(Application.model_fields)
_REQUIRED: tuple[str, ...] = tuple(n for n, f in Application.model_fields.items() if f.is_required())
_TEXT_FIELDS = frozenset({"applicant_id", "application_id"})
_INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})
_NUMBER_TYPES = _INT_TYPES | {"FP16", "FP32", "FP64"}
# Datatypes each named input may use; a term sent as FP64 12.5 still fails the integer check.
_DATATYPES: dict[str, frozenset[str]] = {
    "applicant_id": frozenset({"BYTES"}),
    "application_id": frozenset({"BYTES"}),
    "amount": _NUMBER_TYPES,
    "price": _NUMBER_TYPES,
    "term": _NUMBER_TYPES,
}
_V1_KEYS = frozenset({"instances"})
# model_name/model_version: KServe's own REST client repeats them in the body.
_V2_KEYS = frozenset({"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
_NON_JSON_NUMBER = re.compile(rb"(?<![A-Za-z\"])-?(NaN|Infinity)(?![A-Za-z\"])")


class UnsupportedMediaType(InvalidApplication):
    """The body is not JSON (or a v2 binary-extension body)."""

    status_code = 415


@dataclass(frozen=True)
class ScoringRequest:
    """A validated batch and what the response needs to mirror the request."""

    applications: list[Application]
    protocol: Literal["v1", "v2"]
    request_id: str | None = None
    """The v2 request ``id``, echoed in the response."""


@dataclass(frozen=True)
class V2Input:
    """One v2 input tensor, whichever way it arrived (REST JSON, binary extension, gRPC)."""

    name: str
    datatype: str
    shape: list[int]
    data: list[Any] = field(repr=False)


def _problem(fieldname: str, message: str, index: int | None = None) -> InvalidApplication:
    return InvalidApplication([FieldProblem(index, fieldname, message)])


def check_media_type(content_type: str | None, *, binary_ok: bool = False) -> None:
    """Accept JSON (and, for v2 binary-extension bodies, octet-stream); 415 otherwise.

    A missing content type is taken as JSON, like KServe does, so plain clients keep working.
    """
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_MEDIA_TYPES or (binary_ok and media == BINARY_MEDIA_TYPE):
        return
    allowed = "application/json" + (
        " (or application/octet-stream with the binary extension)" if binary_ok else ""
    )
    raise UnsupportedMediaType(
        [FieldProblem(None, "content-type", f"{media!r} is not supported; send {allowed}")]
    )


def loads(body: bytes) -> Any:
    """Parse JSON, naming the problem: empty body, NaN/Infinity, or where the syntax breaks."""
    if not body.strip():
        raise _problem("body", "is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if _NON_JSON_NUMBER.search(body):
            raise _problem(
                "body", "NaN and Infinity are not valid JSON numbers; send finite numbers"
            ) from exc
        raise _problem(
            "body", f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc


def decode_v1(body: bytes, content_type: str | None, max_batch: int) -> ScoringRequest:
    """``{"instances": [application, ...]}``."""
    check_media_type(content_type)
    doc = loads(body)
    if not isinstance(doc, dict):
        raise _problem("body", 'must be a JSON object like {"instances": [application, ...]}')
    problems = [FieldProblem(None, key, "unknown field") for key in doc if key not in _V1_KEYS]
    if "instances" not in doc:
        problems.append(FieldProblem(None, "instances", "Field required"))
    if problems:
        raise InvalidApplication(problems)
    return ScoringRequest(parse_applications(doc["instances"], max_batch), "v1")


def decode_v2(body: bytes, headers: Mapping[str, str], max_batch: int) -> ScoringRequest:
    """A v2 inference request, JSON or with the binary tensor extension."""
    content_type = headers.get("content-type")
    header_length = headers.get(INFERENCE_HEADER)
    check_media_type(content_type, binary_ok=header_length is not None)
    if header_length is not None:
        return _decode_v2_binary(body, header_length, max_batch)
    doc = loads(body)
    if not isinstance(doc, dict):
        raise _problem("body", 'must be a JSON object like {"inputs": [...]}')
    problems = [FieldProblem(None, key, "unknown field") for key in doc if key not in _V2_KEYS]
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        problems.append(FieldProblem(None, "id", "must be a string"))
    raw_inputs = doc.get("inputs")
    inputs: list[V2Input] = []
    if not isinstance(raw_inputs, list) or not raw_inputs:
        problems.append(FieldProblem(None, "inputs", "must be a non-empty list of input tensors"))
    else:
        for k, raw in enumerate(raw_inputs):
            parsed = _input_from_json(k, raw, problems)
            if parsed is not None:
                inputs.append(parsed)
    if problems:
        raise InvalidApplication(problems)
    return ScoringRequest(decode_v2_inputs(inputs, max_batch), "v2", request_id)


def _input_from_json(k: int, raw: Any, problems: list[FieldProblem]) -> V2Input | None:
    where = f"inputs[{k}]"
    if not isinstance(raw, dict):
        problems.append(FieldProblem(None, where, "must be an object with name, datatype, shape and data"))
        return None
    before = len(problems)
    unknown = set(raw) - {"name", "datatype", "shape", "data", "parameters"}
    problems.extend(FieldProblem(None, f"{where}.{key}", "unknown field") for key in sorted(unknown))
    name: Any = raw.get("name")
    datatype: Any = raw.get("datatype")
    shape: Any = raw.get("shape")
    data: Any = raw.get("data")
    if not isinstance(name, str) or not name:
        problems.append(FieldProblem(None, f"{where}.name", "must be a non-empty string"))
    if not isinstance(datatype, str):
        problems.append(FieldProblem(None, f"{where}.datatype", "must be a string such as BYTES or FP64"))
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        problems.append(FieldProblem(None, f"{where}.shape", "must be a list of non-negative integers"))
    if not isinstance(data, list):
        problems.append(FieldProblem(None, f"{where}.data", "must be a list"))
    if len(problems) > before:
        return None
    return V2Input(str(name), str(datatype), list(shape), list(data))


def _decode_v2_binary(body: bytes, header_length: str, max_batch: int) -> ScoringRequest:
    # KServe's own parser reads the binary tensor extension; its errors become field problems.
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferRequest

    try:
        json_length = int(header_length)
        if not 0 < json_length <= len(body):
            raise ValueError(header_length)
    except ValueError as exc:
        raise _problem(
            INFERENCE_HEADER, "must be the byte length of the JSON header within the body"
        ) from exc
    loads(body[:json_length])  # names JSON syntax problems before KServe sees the header
    try:
        request = InferRequest.from_bytes(body, json_length, "credit-scoring")
    except (InvalidInput, KeyError, TypeError, ValueError) as exc:
        raise _problem("body", f"is not a valid v2 binary request: {exc}") from exc
    return decode_infer_request(request, max_batch)


def decode_infer_request(request: Any, max_batch: int) -> ScoringRequest:
    """A KServe ``InferRequest`` (gRPC, or KServe's own REST decoding) to a validated batch."""
    from kserve.errors import InvalidInput

    inputs: list[V2Input] = []
    for inp in request.inputs:
        data = inp.data
        if not (isinstance(data, list) and data):
            # gRPC raw_input_contents (and binary REST tensors) live in the raw buffer.
            try:
                data = inp.as_numpy().ravel().tolist()
            except (InvalidInput, TypeError, ValueError) as exc:
                raise _problem(
                    f"inputs[{inp.name}].data", f"cannot be read as {inp.datatype}: {exc}"
                ) from exc
        inputs.append(V2Input(inp.name, inp.datatype, list(inp.shape), list(data)))
    return ScoringRequest(decode_v2_inputs(inputs, max_batch), "v2", request.id)


def decode_v2_inputs(inputs: Sequence[V2Input], max_batch: int) -> list[Application]:
    """Rows from either v2 form: one BYTES input of JSON applications, or one input per field."""
    names = [i.name for i in inputs]
    if APPLICATIONS_INPUT in names:
        if len(inputs) > 1:
            raise _problem(
                "inputs",
                f"send either one BYTES input {APPLICATIONS_INPUT!r} or one input per "
                f"field ({', '.join(_FIELDS)}), not both",
            )
        return parse_applications(_json_rows(inputs[0]), max_batch)
    return parse_applications(_column_rows(inputs, max_batch), max_batch)


def _json_rows(inp: V2Input) -> list[Any]:
    where = f"inputs[{APPLICATIONS_INPUT}]"
    if inp.datatype != "BYTES":
        raise _problem(f"{where}.datatype", f"must be BYTES (JSON objects), not {inp.datatype}")
    values = _flatten(inp, where)
    rows: list[Any] = []
    problems: list[FieldProblem] = []
    for i, value in enumerate(values):
        if isinstance(value, dict):
            rows.append(value)
            continue
        try:
            row = orjson.loads(value) if isinstance(value, (str, bytes)) else value
        except orjson.JSONDecodeError:
            problems.append(
                FieldProblem(
                    i, "application", "is not valid JSON (NaN and Infinity are not JSON numbers either)"
                )
            )
            continue
        rows.append(row)
    if problems:
        raise InvalidApplication(problems)
    return rows


def _column_rows(inputs: Sequence[V2Input], max_batch: int) -> list[dict[str, Any]]:
    problems: list[FieldProblem] = []
    columns: dict[str, list[Any]] = {}
    for k, inp in enumerate(inputs):
        where = f"inputs[{k}]"
        if inp.name not in _DATATYPES:
            problems.append(
                FieldProblem(
                    None,
                    where,
                    f"unknown input {inp.name!r}; expected "
                    f"{', '.join(_FIELDS)} or one BYTES input "
                    f"{APPLICATIONS_INPUT!r}",
                )
            )
            continue
        if inp.name in columns:
            problems.append(FieldProblem(None, where, f"duplicate input {inp.name!r}"))
            continue
        if inp.datatype not in _DATATYPES[inp.name]:
            allowed = "BYTES" if inp.name in _TEXT_FIELDS else "a numeric datatype (FP64, FP32, INT64, ...)"
            problems.append(
                FieldProblem(None, f"{inp.name}.datatype", f"must be {allowed}, not {inp.datatype}")
            )
            continue
        try:
            columns[inp.name] = _flatten(inp, inp.name)
        except InvalidApplication as exc:
            problems.extend(exc.problems)
    provided = {inp.name for inp in inputs}
    problems.extend(FieldProblem(None, name, "missing input") for name in _REQUIRED if name not in provided)
    if problems:
        raise InvalidApplication(problems)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise InvalidApplication(
            [
                FieldProblem(None, name, f"has {n} values; every input needs one per application")
                for name, n in lengths.items()
            ]
        )
    n_rows = next(iter(lengths.values()))
    if n_rows > max_batch:
        raise _problem("inputs", f"has {n_rows} applications; at most {max_batch} per request")
    for name in _TEXT_FIELDS & columns.keys():
        columns[name] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in columns[name]]
    return [{name: columns[name][i] for name in _FIELDS if name in columns} for i in range(n_rows)]


def _flatten(inp: V2Input, where: str) -> list[Any]:
    """The data as one value per application: shape ``[N]`` or ``[N, 1]``, flat or nested."""
    shape = inp.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise _problem(f"{where}.shape", f"must be [N] or [N, 1] (one value per application), not {shape}")
    data = inp.data
    if data and all(isinstance(v, list) for v in data):
        if not all(len(v) == 1 for v in data):
            raise _problem(f"{where}.data", "nested rows must hold exactly one value each")
        data = [v[0] for v in data]
    if len(data) != shape[0]:
        raise _problem(f"{where}.data", f"has {len(data)} values but shape says {shape[0]}")
    return data

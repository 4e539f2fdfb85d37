"""Request bodies in, validated applications out, whatever the transport.

``decode`` is the one entry: a raw body from a fast route (``RawBody``, v1 or v2 REST), KServe's
``InferRequest`` (its REST routes and gRPC), a parsed v1 dict (KServe's v1 route), or a batch an
in-process caller validated already. The v2
envelope is read by the wire module (``serving.v2``); this module only gets the rows out of its
tensors. Everything a client can get wrong is reported as one ``InvalidApplication`` listing
every problem by instance index and field, and each application is validated by the shared
contract (``credit_scoring.schema.parse_applications``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from credit_scoring.errors import FieldProblem, InvalidApplication, fail, key_name
from credit_scoring.schema import Application, parse_applications
from serving.v2 import InferenceRequest, Tensor, rest
from serving.v2.kserve import from_kserve_request

__all__ = ["APPLICATIONS_INPUT", "ApplicationBatch", "RawBody", "decode", "decode_v1", "decode_v2"]

APPLICATIONS_INPUT = "applications"
_FIELDS: tuple[str, ...] = tuple(Application.model_fields)
_REQUIRED: tuple[str, ...] = tuple(n for n, f in Application.model_fields.items() if f.is_required())
_TEXT_FIELDS = frozenset({"applicant_id", "application_id"})
_NUMBER_TYPES = frozenset(
    {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64"}
)
# Datatypes each named input may use; a term sent as FP64 12.5 still fails the integer check.
_DATATYPES: dict[str, frozenset[str]] = {
    "applicant_id": frozenset({"BYTES"}),
    "application_id": frozenset({"BYTES"}),
    "amount": _NUMBER_TYPES,
    "price": _NUMBER_TYPES,
    "term": _NUMBER_TYPES,
}
_V1_KEYS = frozenset({"instances"})


@dataclass(frozen=True)
class ApplicationBatch:
    """A validated batch of applications and what the response needs to mirror the request."""

    applications: list[Application]
    protocol: Literal["v1", "v2"]
    request_id: str | None = None
    """The v2 request ``id``, echoed in the response."""

    def __len__(self) -> int:
        return len(self.applications)


@dataclass(frozen=True)
class RawBody:
    """A request body as a fast route received it."""

    protocol: Literal["v1", "v2"]
    body: bytes
    content_type: str | None = None
    inference_header: str | None = None
    """The binary extension's ``inference-header-content-length``, when sent."""


def decode(payload: RawBody | Any, max_batch: int) -> ApplicationBatch:
    """Any transport's request (see the module docstring) as a validated batch."""
    if isinstance(payload, ApplicationBatch):
        return payload
    if isinstance(payload, RawBody):
        if payload.protocol == "v1":
            return decode_v1(payload.body, payload.content_type, max_batch)
        rest.check_media_type(payload.content_type, binary_ok=payload.inference_header is not None)
        length = rest.json_length(payload.inference_header, len(payload.body))
        return decode_v2(rest.decode_request(payload.body, length), max_batch)
    if isinstance(payload, Mapping):
        # KServe's own v1 route (e.g. a CloudEvent body) hands over the parsed dict.
        return _v1_document(payload, max_batch)
    return decode_v2(from_kserve_request(payload), max_batch)


def decode_v1(body: bytes, content_type: str | None, max_batch: int) -> ApplicationBatch:
    """``{"instances": [application, ...]}``."""
    rest.check_media_type(content_type)
    return _v1_document(rest.loads(body), max_batch)


def _v1_document(doc: Any, max_batch: int) -> ApplicationBatch:
    if not isinstance(doc, Mapping):
        raise fail("body", 'must be a JSON object like {"instances": [application, ...]}')
    problems = [FieldProblem(None, key_name(key), "unknown field") for key in doc if key not in _V1_KEYS]
    if "instances" not in doc:
        problems.append(FieldProblem(None, "instances", "Field required"))
    if problems:
        raise InvalidApplication(problems)
    return ApplicationBatch(parse_applications(doc["instances"], max_batch), "v1")


def decode_v2(request: InferenceRequest, max_batch: int) -> ApplicationBatch:
    """Rows from either v2 form: one BYTES input of JSON applications, or one input per field."""
    inputs = request.inputs
    names = [t.name for t in inputs]
    if APPLICATIONS_INPUT in names:
        if len(inputs) > 1:
            raise fail(
                "inputs",
                f"send either one BYTES input {APPLICATIONS_INPUT!r} or one input per "
                f"field ({', '.join(_FIELDS)}), not both",
            )
        rows: list[Any] = _json_rows(inputs[0])
    else:
        rows = _column_rows(inputs, max_batch)
    return ApplicationBatch(parse_applications(rows, max_batch), "v2", request.id)


def _values(t: Tensor, where: str) -> list[Any]:
    """The tensor's values as one value per application: shape ``[N]`` or ``[N, 1]``."""
    shape = t.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise fail(f"{where}.shape", f"must be [N] or [N, 1] (one value per application), not {shape}")
    if isinstance(t.data, list):
        data = t.data
        if data and all(isinstance(v, list) for v in data):
            if not all(len(v) == 1 for v in data):
                raise fail(f"{where}.data", "nested rows must hold exactly one value each")
            data = [v[0] for v in data]
    else:
        # Binary tensors (REST extension, gRPC raw contents) and arrays KServe decoded.
        try:
            data = t.flat().tolist()
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"{where}.data", f"cannot be read as {t.datatype} {shape}: {exc}") from exc
    if len(data) != shape[0]:
        raise fail(f"{where}.data", f"has {len(data)} values but shape says {shape[0]}")
    return data


def _json_rows(t: Tensor) -> list[Any]:
    where = f"inputs[{APPLICATIONS_INPUT}]"
    if t.datatype != "BYTES":
        raise fail(f"{where}.datatype", f"must be BYTES (JSON objects), not {t.datatype}")
    rows: list[Any] = []
    problems: list[FieldProblem] = []
    for i, value in enumerate(_values(t, where)):
        if isinstance(value, dict):
            rows.append(value)
            continue
        try:
            rows.append(orjson.loads(value) if isinstance(value, str | bytes) else value)
        except orjson.JSONDecodeError:
            message = "is not valid JSON (NaN and Infinity are not JSON numbers either)"
            problems.append(FieldProblem(i, "application", message))
    if problems:
        raise InvalidApplication(problems)
    return rows


def _column_rows(inputs: Sequence[Tensor], max_batch: int) -> list[dict[str, Any]]:
    problems: list[FieldProblem] = []
    columns: dict[str, list[Any]] = {}
    for k, t in enumerate(inputs):
        where = f"inputs[{k}]"
        if t.name not in _DATATYPES:
            expected = f"{', '.join(_FIELDS)} or one BYTES input {APPLICATIONS_INPUT!r}"
            problems.append(FieldProblem(None, where, f"unknown input {t.name!r}; expected {expected}"))
            continue
        if t.name in columns:
            problems.append(FieldProblem(None, where, f"duplicate input {t.name!r}"))
            continue
        if t.datatype not in _DATATYPES[t.name]:
            allowed = "BYTES" if t.name in _TEXT_FIELDS else "a numeric datatype (FP64, FP32, INT64, ...)"
            problems.append(FieldProblem(None, f"{t.name}.datatype", f"must be {allowed}, not {t.datatype}"))
            continue
        try:
            columns[t.name] = _values(t, t.name)
        except InvalidApplication as exc:
            problems.extend(exc.problems)
    provided = {t.name for t in inputs}
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
        raise fail("inputs", f"has {n_rows} applications; at most {max_batch} per request")
    for name in _TEXT_FIELDS & columns.keys():
        columns[name] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in columns[name]]
    return [{name: columns[name][i] for name in _FIELDS if name in columns} for i in range(n_rows)]

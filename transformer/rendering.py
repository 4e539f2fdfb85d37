"""Credit answers as responses: the v1 body, and the v2 response of the wire module.

The v2 response holds the full answer per application as JSON (``answers``) plus the main fields
as plain tensors, so standard Open Inference Protocol clients can read them without parsing JSON.
The same ``InferenceResponse`` goes out as REST (``serving.v2.rest``) or through KServe's types
(``serving.v2.kserve``: KServe's REST routes and gRPC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from serving.v2 import InferenceResponse, Tensor

__all__ = ["OUTPUT_TYPES", "v1_body", "v2_response"]

OUTPUT_TYPES = (
    ("answers", "BYTES"),
    ("pd", "FP64"),
    ("score", "FP64"),
    ("decision", "BYTES"),
    ("risk_band", "BYTES"),
    ("thin_file", "BOOL"),
)


def v1_body(answers: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"predictions": answers})


def v2_response(
    model_name: str,
    answers: Sequence[dict[str, Any]],
    *,
    response_id: str,
    model_version: str,
    request_id: str,
) -> InferenceResponse:
    n = len(answers)
    columns: dict[str, list[Any]] = {
        "answers": [orjson.dumps(a).decode() for a in answers],
        "pd": [a["pd"] for a in answers],
        "score": [a["score"] for a in answers],
        "decision": [a["decision"] for a in answers],
        "risk_band": [a["risk_band"] for a in answers],
        "thin_file": [a["thin_file"] for a in answers],
    }
    return InferenceResponse(
        model_name=model_name,
        outputs=[Tensor(name, datatype, [n], data=columns[name]) for name, datatype in OUTPUT_TYPES],
        model_version=model_version,
        id=response_id,
        parameters={"request_id": request_id},
    )

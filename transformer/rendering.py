"""Answers and errors as response bodies (v1, v2), serialised once with orjson."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["v1_body", "v2_body", "v2_outputs"]


def v1_body(answers: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"predictions": answers})


def v2_outputs(answers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The full answer per application as JSON (``answers``), plus the main fields as plain tensors
    so standard Open Inference Protocol clients can read them without parsing JSON."""
    n = len(answers)
    return [
        {
            "name": "answers",
            "datatype": "BYTES",
            "shape": [n],
            "data": [orjson.dumps(a).decode() for a in answers],
        },
        {"name": "pd", "datatype": "FP64", "shape": [n], "data": [a["pd"] for a in answers]},
        {"name": "score", "datatype": "FP64", "shape": [n], "data": [a["score"] for a in answers]},
        {"name": "decision", "datatype": "BYTES", "shape": [n], "data": [a["decision"] for a in answers]},
        {"name": "risk_band", "datatype": "BYTES", "shape": [n], "data": [a["risk_band"] for a in answers]},
        {"name": "thin_file", "datatype": "BOOL", "shape": [n], "data": [a["thin_file"] for a in answers]},
    ]


def v2_body(
    model_name: str,
    answers: Sequence[dict[str, Any]],
    *,
    response_id: str,
    model_version: str,
    request_id: str,
) -> bytes:
    return orjson.dumps(
        {
            "model_name": model_name,
            "model_version": model_version,
            "id": response_id,
            "parameters": {"request_id": request_id},
            "outputs": v2_outputs(answers),
        }
    )

"""Request bodies and answer checks for each kind of target (the tests build their v2 requests
with the same ``predictor_request`` and ``transformer_v2_request``).

All requests are built before a run from real applications (``Workload``); a check validates a
sample of the answers during the run (a wrong answer counts as an error), so a server cannot
look fast by answering something else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

__all__ = [
    "check_batch_answers",
    "check_credit_answer",
    "check_probability",
    "predictor_body",
    "predictor_request",
    "transformer_v1_body",
    "transformer_v2_body",
    "transformer_v2_request",
]

Check = Callable[[bytes], str | None]


def _row(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values.tolist()]


def predictor_request(rows: np.ndarray, outputs: Sequence[str] = (), **parameters: object) -> dict[str, Any]:
    """v2: one FP32 tensor ``features`` ``[N, 18]`` in feature order (JSON, NaN as null), the
    outputs asked for and the request's parameters (e.g. ``pred_contribs=True``), if any."""
    data: list[float | None] = []
    for r in rows:
        data.extend(_row(r))
    body: dict[str, Any] = {
        "inputs": [
            {"name": "features", "shape": [len(rows), rows.shape[1]], "datatype": "FP32", "data": data}
        ]
    }
    if outputs:
        body["outputs"] = [{"name": o} for o in outputs]
    if parameters:
        body["parameters"] = parameters
    return body


def predictor_body(rows: np.ndarray, outputs: Sequence[str] = ()) -> bytes:
    return orjson.dumps(predictor_request(rows, outputs))


def transformer_v2_request(apps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """v2 named inputs, one tensor per application field."""
    n = len(apps)
    return {
        "inputs": [
            {
                "name": "applicant_id",
                "datatype": "BYTES",
                "shape": [n],
                "data": [a["applicant_id"] for a in apps],
            },
            {"name": "amount", "datatype": "FP64", "shape": [n], "data": [a["amount"] for a in apps]},
            {"name": "price", "datatype": "FP64", "shape": [n], "data": [a["price"] for a in apps]},
            {"name": "term", "datatype": "INT64", "shape": [n], "data": [a["term"] for a in apps]},
        ]
    }


def transformer_v2_body(apps: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps(transformer_v2_request(apps))


def transformer_v1_body(apps: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"instances": list(apps)})


def check_probability(output_names: Sequence[str], rows: int = 1) -> Check:
    """A v2 answer whose first output named in ``output_names`` holds ``rows`` PDs in [0, 1]
    (``predict_proba`` may hold two columns: the second is the PD)."""

    def check(body: bytes) -> str | None:
        try:
            outputs = orjson.loads(body)["outputs"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return "not a v2 response"
        for out in outputs:
            if out.get("name") in output_names:
                data = out.get("data") or []
                pds = data[1::2] if len(data) == 2 * rows else data
                if len(pds) != rows or not all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in pds):
                    return f"{out.get('name')} is not {rows} probabilities"
                return None
        return f"no output among {list(output_names)}"

    return check


def _answer_problem(answer: dict[str, Any]) -> str | None:
    decision = answer.get("decision")
    if decision not in ("approve", "refer", "decline"):
        return f"decision {decision!r}"
    pd = answer.get("pd")
    if not isinstance(pd, float) or not 0.0 <= pd <= 1.0:
        return "pd"
    if decision != "approve" and not answer.get("reasons"):
        return f"{decision} without reasons"
    return None


def check_credit_answer(body: bytes) -> str | None:
    """Our transformer's v2 answer for one application: a decision, a PD, reasons when adverse."""
    try:
        outputs = {o["name"]: o for o in orjson.loads(body)["outputs"]}
        answer = orjson.loads(outputs["answers"]["data"][0])
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
        return "not a credit answer"
    return _answer_problem(answer)


def check_batch_answers(size: int) -> Check:
    """Our transformer's v1 answer for a batch: ``size`` answers, reasons for every refer/decline."""

    def check(body: bytes) -> str | None:
        try:
            predictions = orjson.loads(body)["predictions"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return "not a v1 response"
        if len(predictions) != size:
            return f"{len(predictions)} answers for {size} applications"
        for answer in predictions:
            problem = _answer_problem(answer)
            if problem is not None:
                return problem
        return None

    return check

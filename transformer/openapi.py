"""The OpenAPI document of the transformer's public API, built from the request contract.

``docs/openapi.json`` is this document (``python -m transformer.openapi > docs/openapi.json``;
``tests/transformer/test_fuzz.py`` checks the file is current and drives schemathesis with it).
FastAPI's own ``/openapi.json`` describes KServe's generic v2 bodies, not ours: the scoring
routes are answered ahead of FastAPI (``transformer/routes.py``). The application schema is the
contract's pydantic model (``credit_scoring.schema.Application``), so the document cannot drift
from what the transformer validates.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from credit_scoring.schema import Application

__all__ = ["openapi_document"]

_V2_INPUTS = ("applicant_id", "amount", "price", "term", "applications")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Invalid request: every problem, by instance index and field",
        401: "No valid credential (code unauthenticated)",
        413: "Body larger than the limit (code payload_too_large)",
        415: "Not JSON",
        429: "The client's rate limit is spent (code rate_limited, Retry-After)",
        503: "A dependency is unavailable (code online_store_empty or online_store_stale when the "
        "online store cannot be trusted), or the process is overloaded (code overloaded, Retry-After)",
    }
    return {str(s): {"description": text[s], **_json(_ref("Error"))} for s in statuses}


def _schemas(max_batch: int) -> dict[str, Any]:
    application = Application.model_json_schema()
    application.pop("title", None)
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"type": "string", "enum": list(_V2_INPUTS)},
            "datatype": {"type": "string", "enum": ["BYTES", "FP64", "FP32", "INT64", "INT32"]},
            "shape": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "maxItems": 1,
            },
            "data": {"type": "array", "items": {}},
            "parameters": {"type": "object"},
        },
    }
    answer = {
        "type": "object",
        "required": ["applicant_id", "pd", "score", "risk_band", "decision", "reasons", "thin_file", "model"],
        "properties": {
            "applicant_id": {"type": "string"},
            "pd": {"type": "number", "minimum": 0, "maximum": 1},
            "score": {"type": "number"},
            "risk_band": {"type": "string"},
            "decision": {"type": "string", "enum": ["approve", "refer", "decline"]},
            "reasons": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "text", "contribution"],
                    "properties": {
                        "code": {"type": "string"},
                        "text": {"type": "string"},
                        "contribution": {"type": "number"},
                    },
                },
            },
            "thin_file": {"type": "boolean"},
            "model": {"type": "object"},
            "request_id": {"type": "string"},
        },
    }
    return {
        "Application": application,
        "V1Request": {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {
                    "type": "array",
                    "items": _ref("Application"),
                    "minItems": 1,
                    "maxItems": max_batch,
                }
            },
        },
        "V1Response": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": _ref("Answer")}},
        },
        "V2Tensor": tensor,
        "V2Request": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "items": _ref("V2Tensor"), "minItems": 1},
                "parameters": {"type": "object"},
            },
        },
        "V2Response": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": ["string", "null"]},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": {"type": "object"}},
                "parameters": {"type": "object"},
            },
        },
        "Answer": answer,
        "Error": {
            "type": "object",
            "required": ["error", "request_id"],
            "properties": {
                "error": {"type": "string"},
                "request_id": {"type": "string"},
                "code": {
                    "type": "string",
                    "description": "A stable machine-readable code, when the error has one; a "
                    "refusal (401, 413, 429, a shed 503) carries only error (the same code), code "
                    "and request_id",
                },
                "problems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "field", "message"],
                        "properties": {
                            "index": {"type": ["integer", "null"]},
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
    }


def openapi_document(model_name: str = "credit-scoring", max_batch: int = 1000) -> dict[str, Any]:
    """The public routes with the bodies the transformer really takes and gives."""
    scoring_errors = _errors(400, 401, 413, 415, 429, 503)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "credit-scoring transformer",
            "version": "1",
            "description": "Scoring routes of the transformer (KServe v1 and Open Inference Protocol v2 "
            "bodies of this platform). Every route but the probes needs an API key.",
        },
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": {
            f"/v1/models/{model_name}:predict": {
                "post": {
                    "operationId": "predict_v1",
                    "requestBody": {"required": True, **_json(_ref("V1Request"))},
                    "responses": {
                        "200": {"description": "One answer per application", **_json(_ref("V1Response"))}
                    }
                    | scoring_errors,
                }
            },
            f"/v2/models/{model_name}/infer": {
                "post": {
                    "operationId": "infer_v2",
                    "requestBody": {"required": True, **_json(_ref("V2Request"))},
                    "responses": {
                        "200": {"description": "Answers as v2 outputs", **_json(_ref("V2Response"))}
                    }
                    | scoring_errors,
                }
            },
            "/monitoring": {
                "get": {
                    "operationId": "monitoring",
                    "responses": {
                        "200": {"description": "Served models, traffic, drift", **_json({"type": "object"})}
                    }
                    | _errors(401, 429),
                }
            },
            "/v2/health/ready": {
                "get": {
                    "operationId": "ready",
                    "security": [],
                    "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}},
                }
            },
        },
        "components": {
            "schemas": _schemas(max_batch),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(openapi_document(), option=orjson.OPT_INDENT_2).decode() + "\n")

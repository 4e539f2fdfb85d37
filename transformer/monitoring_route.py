"""``GET /monitoring``: what this platform serves and how it is doing, as JSON.

The gateway routes ``/monitoring`` here. The transformer knows which model versions answered
most recently, by role (the challenger's in shadow or split mode); ``inference_log.summary`` adds
traffic and the last drift result from the inference-log database. It never fails the caller: an unreadable
database gives a ``degraded`` body with the reason (still 200, so probes of the route stay simple).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Response

from inference_log.summary import ServedModel, monitoring_summary_async
from transformer.model import CreditScoringModel

__all__ = ["add_monitoring_route", "challenger_mode"]


def challenger_mode(configured: str | None, shadow_enabled: bool) -> str:
    """``off``, ``shadow`` or ``split``: as configured, else shadow exactly when a
    shadow host is set."""
    if configured:
        return configured
    return "shadow" if shadow_enabled else "off"


def add_monitoring_route(app: FastAPI, model: CreditScoringModel, mode: str, predictor_model: str) -> None:
    async def monitoring() -> Response:
        served = [
            ServedModel(role, name, version, alias or None)
            for role, (name, version, alias) in sorted(model.last_served.items())
        ]
        if not served:
            # Nothing scored yet: still say which model this transformer fronts.
            served = [ServedModel(model.role.value, predictor_model, None, None)]
        engine = getattr(getattr(model.sink, "sink", model.sink), "engine", None)
        body: dict[str, Any] = await monitoring_summary_async(
            engine=engine, models=served, challenger_mode=mode, model_name=predictor_model
        )
        return Response(orjson.dumps(body), media_type="application/json")

    app.add_api_route("/monitoring", monitoring, methods=["GET"], include_in_schema=True)

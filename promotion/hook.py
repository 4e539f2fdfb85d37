"""``credit-scoring promotion-hook``: MLflow webhooks in, promotion branches out.

A small ASGI app (Starlette, served by uvicorn): ``POST /webhook`` verifies the delivery's
signature (``promotion.webhooks``), maps the event to a step and runs it exactly as
``credit-scoring promote`` does, against the hook's own clone of the GitOps repository, pushing
the branch to the configured remote. So an alias moved in the MLflow UI becomes a proposed Git
change, which takes effect only once merged and synced.

Answers: 401 for a bad or stale signature (nothing runs), 400 for a body that is not an MLflow
event, 200 with the step's outcome otherwise (a gate's refusal is an answer, not an error), 503
when the registry or the Git remote cannot be reached (MLflow retries 5xx deliveries). Steps run
one at a time; a delivery id seen before gets its first answer again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promotion.settings import HookSettings
from promotion.steps import Outcome, PromotionRequest, PromotionResult
from promotion.webhooks import BadSignature, StepCall, step_for, verify

__all__ = ["Runner", "build_app", "prepare_clone"]

log = logging.getLogger(__name__)


def git_env(settings: HookSettings) -> dict[str, str]:
    """Environment that makes every git command send the auth header (never on a command line)."""
    if settings.git_auth_header is None:
        return {}
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": settings.git_auth_header.get_secret_value(),
    }


def prepare_clone(settings: HookSettings) -> Path:
    """Clone ``clone_url`` into ``repo_dir`` unless a clone is already there."""
    if (settings.repo_dir / ".git").exists():
        return settings.repo_dir
    if not settings.clone_url:
        raise RuntimeError(
            f"{settings.repo_dir} is not a git clone and CREDIT_PROMOTION_HOOK_CLONE_URL is not set"
        )
    import os

    subprocess.run(
        ["git", "clone", "--quiet", settings.clone_url, str(settings.repo_dir)],
        check=True,
        timeout=300,
        env={**os.environ, **git_env(settings)},
        capture_output=True,
    )
    return settings.repo_dir


Runner = Callable[[PromotionRequest], PromotionResult]


def build_app(
    settings: HookSettings,
    run_step: Runner,
    previous_champion: Callable[[], str | None],
    model_name: str,
) -> Any:
    """The ASGI app; ``run_step`` runs one promotion (blocking), ``previous_champion`` reads the alias."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    secret = settings.secret.get_secret_value()
    answered: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
    lock = asyncio.Lock()

    def remember(delivery: str, status: int, body: dict[str, Any]) -> JSONResponse:
        answered[delivery] = (status, body)
        while len(answered) > settings.remember_deliveries:
            answered.popitem(last=False)
        return JSONResponse(body, status_code=status)

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            delivery = verify(secret, headers, body, settings.max_age_seconds)
        except BadSignature as exc:
            log.warning("webhook refused: %s", exc)
            return JSONResponse({"error": "unauthorized", "reason": str(exc)}, status_code=401)
        async with lock:
            if delivery in answered:
                status, previous = answered[delivery]
                return JSONResponse({**previous, "redelivery": True}, status_code=status)
            try:
                event = json.loads(body)
                if not isinstance(event, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                return JSONResponse({"error": f"body is not an MLflow event: {exc}"}, status_code=400)
            call: StepCall = step_for(event, model_name, await asyncio.to_thread(previous_champion))
            answer: dict[str, Any] = {
                "delivery_id": delivery,
                "event": f"{event.get('entity')}.{event.get('action')}",
                "step": call.step.value if call.step else None,
                "version": call.version,
                "why": call.why,
            }
            if call.step is None:
                log.info("webhook %s: %s", delivery, call.why)
                return remember(delivery, 200, {**answer, "outcome": "ignored"})
            result = await asyncio.to_thread(
                run_step,
                PromotionRequest(call.step, version=call.version, prometheus=settings.prometheus_url),
            )
            answer.update(result.as_dict())
            log.info(
                "webhook %s: %s v%s -> %s: %s",
                delivery,
                call.step,
                call.version,
                result.outcome,
                result.reason,
            )
            status = 503 if result.outcome is Outcome.REFUSED and result.unavailable else 200
            if status == 503:  # not remembered: MLflow's retry must run it again
                return JSONResponse(answer, status_code=status)
            return remember(delivery, status, answer)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]), Route("/healthz", health)])

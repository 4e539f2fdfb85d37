"""MLflow webhook deliveries: signature check and which promotion step an event asks for.

MLflow 3.17 (``mlflow/webhooks/delivery.py``) POSTs JSON ``{"entity", "action", "timestamp",
"data"}`` with headers ``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (Unix seconds) and, when
the webhook has a secret, ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` over
``"<delivery id>.<timestamp>.<raw body>"`` with the secret as key. We verify exactly that, in
constant time, and refuse deliveries older than ``max_age`` (replays).

Event -> step (docs/promotion.md has the same table):

| MLflow event | data | step proposed |
| --- | --- | --- |
| ``model_version_alias.created`` | alias ``challenger`` -> V | ``shadow --version V`` |
| ``model_version_alias.created`` | ``champion`` -> V = ``@previous-champion`` | ``rollback --version V`` |
| ``model_version_alias.created`` | alias ``champion`` -> V, any other V | ``champion --version V`` |
| ``model_version.created`` | V | none: registration is not approval (the gate then sets ``@challenger``) |
| ``model_version_alias.deleted``, other aliases, other models, other events | - | none |

``split`` has no alias of its own (its percentage is a reviewed decision): run it with the CLI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from promotion.evidence import CHALLENGER, CHAMPION
from promotion.steps import Step

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BadSignature",
    "StepCall",
    "sign",
    "step_for",
    "verify",
]

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_HEADER = "x-mlflow-delivery-id"


class BadSignature(Exception):
    """The delivery is not signed with our secret, or too old: refused with 401."""


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str, headers: dict[str, str], body: bytes, max_age: float, now: float | None = None
) -> str:
    """The delivery id of a correctly signed, recent delivery; ``BadSignature`` otherwise."""
    signature = headers.get(SIGNATURE_HEADER, "")
    delivery = headers.get(DELIVERY_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    if not (signature and delivery and stamp):
        raise BadSignature("missing signature, delivery id or timestamp header")
    try:
        age = (now if now is not None else time.time()) - int(stamp)
    except ValueError as exc:
        raise BadSignature("timestamp is not Unix seconds") from exc
    if abs(age) > max_age:
        raise BadSignature(f"timestamp {age:.0f}s away from now (at most {max_age:.0f}s)")
    if not hmac.compare_digest(signature.encode(), sign(secret, delivery, stamp, body).encode()):
        raise BadSignature("signature does not match")
    return delivery


@dataclass(frozen=True)
class StepCall:
    step: Step | None
    version: str | None
    why: str


def step_for(event: dict[str, Any], model_name: str, previous_champion: str | None) -> StepCall:
    """The promotion step an MLflow event asks for (``step`` None: acknowledged, nothing to do)."""
    entity, action = event.get("entity"), event.get("action")
    data = event.get("data") or {}
    name, version, alias = data.get("name"), data.get("version"), data.get("alias")
    kind = f"{entity}.{action}"
    if name != model_name:
        return StepCall(None, None, f"{kind} for model {name!r}: not {model_name!r}")
    if kind == "model_version.created":
        return StepCall(None, str(version), "a new version is not a promotion: its @challenger alias will be")
    if kind != "model_version_alias.created" or version is None:
        return StepCall(None, None, f"{kind}: no promotion step")
    version = str(version)
    if alias == CHALLENGER:
        return StepCall(Step.SHADOW, version, f"@challenger -> v{version}")
    if alias == CHAMPION:
        if previous_champion is not None and version == previous_champion:
            return StepCall(Step.ROLLBACK, version, f"@champion -> v{version}, the previous champion")
        return StepCall(Step.CHAMPION, version, f"@champion -> v{version}")
    return StepCall(None, version, f"alias {alias!r}: no promotion step")

"""``GET /monitoring`` on the real transformer: the models that answered, challenger mode, drift."""

from __future__ import annotations

import httpx

from tests.credit_env import CreditEnv
from tests.transformer.conftest import Server
from transformer.monitoring_route import challenger_mode

V1 = "/v1/models/credit-scoring:predict"


def test_monitoring_reports_the_model_that_answered(transformer: Server, credit_env: CreditEnv):
    app = credit_env.applications.sort_values("applicant_id").iloc[0]
    scored = httpx.post(
        f"{transformer.url}{V1}",
        json={
            "instances": [
                {
                    "applicant_id": app.applicant_id,
                    "amount": float(app.amount),
                    "price": float(app.price),
                    "term": int(app.term),
                }
            ]
        },
        timeout=30,
        headers=transformer.auth,
    )
    assert scored.status_code == 200, scored.text

    reply = httpx.get(f"{transformer.url}/monitoring", timeout=30, headers=transformer.auth)

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["challenger_mode"] == "off"
    champions = [m for m in body["models"] if m["role"] == "champion"]
    assert [(m["name"], m["version"], m["alias"]) for m in champions] == [
        ("credit-risk", credit_env.model_version, "champion")
    ]
    assert "drift" in body
    # No applicant data ever appears in the summary.
    assert app.applicant_id not in reply.text


def test_challenger_mode_defaults():
    assert challenger_mode(None, shadow_enabled=False) == "off"
    assert challenger_mode(None, shadow_enabled=True) == "shadow"
    assert challenger_mode("split", shadow_enabled=False) == "split"

"""The transformer reads the audit attributes with the profile and logs them with the lender's
application id; it never scores on them. Reasons for housing and employment name the category."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd

from credit_scoring.reasons import LEVEL_TEXT, REASON_CODES
from tests.credit_env import CreditEnv
from tests.transformer.conftest import Launcher, Server

V1 = "/v1/models/credit-scoring:predict"
V2 = "/v2/models/credit-scoring/infer"


def _logged(launcher: Launcher, transformer: Server, request_id: str) -> list[dict]:
    path = launcher.workdir / f"transformer-{transformer.http_port}" / "inference_log.db"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Path(path).exists():
            with sqlite3.connect(path) as conn:
                conn.row_factory = sqlite3.Row
                try:
                    rows = conn.execute(
                        "select * from inference_log where request_id = ? order by row_index", (request_id,)
                    ).fetchall()
                except sqlite3.OperationalError:
                    rows = []
            if rows:
                return [dict(r) for r in rows]
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} never reached the inference log")


def _twins(credit_env: CreditEnv, ages: tuple[int, ...]) -> list[str]:
    """Applicants identical in everything but age, written into the online store (Redis)."""
    base = credit_env.profile.sort_values("event_timestamp").drop_duplicates("applicant_id", keep="last")
    row = base[base["marital"] == "single"].iloc[0]
    now = pd.Timestamp(datetime.now(UTC))
    ids = [f"AUDIT-{age}-{uuid.uuid4().hex[:8]}" for age in ages]
    frame = pd.DataFrame(
        [{**row.to_dict(), "applicant_id": i, "age": age} for i, age in zip(ids, ages, strict=True)]
    )
    frame["event_timestamp"] = now
    frame["created_timestamp"] = now
    credit_env.feature_store().write_to_online_store("applicant_profile", frame)
    return ids


def test_age_is_logged_as_a_band_and_never_changes_the_answer(
    credit_env: CreditEnv, stack_launcher: Launcher, transformer: Server
):
    ids = _twins(credit_env, (30, 70))
    request_id = f"audit-{uuid.uuid4().hex[:8]}"
    instances = [
        {"applicant_id": i, "application_id": f"L-{n}", "amount": 1200.0, "price": 1500.0, "term": 48}
        for n, i in enumerate(ids)
    ]
    response = httpx.post(
        f"{transformer.url}{V1}",
        json={"instances": instances},
        headers={"x-request-id": request_id, **transformer.auth},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    young, old = response.json()["predictions"]
    for key in ("pd", "score", "decision", "risk_band", "reasons"):
        assert young[key] == old[key], key
    rows = _logged(stack_launcher, transformer, request_id)
    assert [(r["application_id"], r["age_band"], r["marital"]) for r in rows] == [
        ("L-0", "25-34", "single"),
        ("L-1", "62+", "single"),
    ]
    # The model's matrix in the log holds no age: the audit attributes are beside it.
    assert all('"age"' not in r["features"] for r in rows)


def test_v2_named_inputs_may_carry_application_ids(
    credit_env: CreditEnv, stack_launcher: Launcher, transformer: Server
):
    apps = credit_env.applications.sort_values("applicant_id").iloc[:3]
    n = len(apps)
    body = {
        "inputs": [
            {
                "name": "applicant_id",
                "datatype": "BYTES",
                "shape": [n],
                "data": apps["applicant_id"].tolist(),
            },
            {
                "name": "application_id",
                "datatype": "BYTES",
                "shape": [n],
                "data": apps["application_id"].tolist(),
            },
            {"name": "amount", "datatype": "FP64", "shape": [n], "data": apps["amount"].tolist()},
            {"name": "price", "datatype": "FP64", "shape": [n], "data": apps["price"].tolist()},
            {"name": "term", "datatype": "INT64", "shape": [n], "data": apps["term"].tolist()},
        ]
    }
    request_id = f"audit-v2-{uuid.uuid4().hex[:8]}"
    response = httpx.post(
        f"{transformer.url}{V2}",
        json=body,
        headers={"x-request-id": request_id, **transformer.auth},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    rows = _logged(stack_launcher, transformer, request_id)
    assert [r["application_id"] for r in rows] == apps["application_id"].tolist()
    assert all(r["age_band"] for r in rows)


def test_housing_and_employment_reasons_name_the_applicants_category(
    credit_env: CreditEnv, transformer: Server
):
    apps = credit_env.applications.sort_values("applicant_id").iloc[:300]
    instances = [
        {
            "applicant_id": r.applicant_id,
            "amount": float(r.amount),
            "price": float(r.price),
            "term": int(r.term),
        }
        for r in apps.itertuples()
    ]
    answers: list[dict] = []
    for start in range(0, len(instances), 100):
        response = httpx.post(
            f"{transformer.url}{V1}",
            json={"instances": instances[start : start + 100]},
            timeout=60,
            headers=transformer.auth,
        )
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    online = credit_env.profile.sort_values("event_timestamp").drop_duplicates("applicant_id", keep="last")
    levels = online.set_index("applicant_id")[["home", "job"]]
    seen = 0
    for answer in answers:
        for reason in answer["reasons"]:
            if reason["feature"] in LEVEL_TEXT:
                level = levels.at[answer["applicant_id"], reason["feature"]]
                base = REASON_CODES[reason["feature"]][1]
                assert reason["text"] == f"{base}: {LEVEL_TEXT[reason['feature']][level]}"
                seen += 1
    assert seen > 5

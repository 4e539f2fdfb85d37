"""The /monitoring summary over a real inference-log database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inference_log import Role, create_log_engine
from inference_log.drift_runs import record_result
from inference_log.summary import ServedModel, monitoring_summary, monitoring_summary_async
from tests.monitoring.conftest import write_log

NOW = datetime.now(UTC)
MODELS = [
    ServedModel("champion", "credit-risk", "1", "champion"),
    ServedModel("challenger", "credit-risk", "2", "challenger"),
]


def result(version: str, status: str, psi: dict[str, float]) -> dict:
    return {
        "model_name": "credit-risk",
        "model_version": version,
        "model_alias": "champion",
        "status": status,
        "message": f"{status} run",
        "records": 900,
        "feature_psi": psi,
        "score_psi": 0.05,
        "drift_share": 0.1,
        "feature_drifted": {"income": True, "age": False},
        "approval_rate": 0.55,
        "champion_challenger_agreement": 0.93,
        "window_start": "a",
        "window_end": "b",
    }


def test_fresh_database_says_never_run(db_url: str):
    engine = create_log_engine(db_url)
    body = monitoring_summary(engine=engine, models=MODELS, challenger_mode="shadow", now=NOW)
    engine.dispose()
    assert body["status"] == "ok"
    assert body["challenger_mode"] == "shadow"
    assert body["drift"] == {"status": "never_run"}
    assert [m["records_last_24h"] for m in body["models"]] == [0, 0]
    json.dumps(body)  # JSON-ready


def test_traffic_and_last_drift_result_of_the_champion_version(db_url: str, tmp_path: Path, make_records):
    champion = make_records(30, role=Role.CHAMPION, model_version="1")
    challenger = make_records(12, role=Role.CHALLENGER, model_version="2")
    write_log(db_url, tmp_path / "spill", champion + challenger)
    engine = create_log_engine(db_url)
    record_result(
        engine, result("1", "warning", {"income": 0.17, "age": 0.01}), "run-1", NOW - timedelta(hours=2)
    )
    record_result(engine, result("2", "critical", {"income": 0.9}), "run-2", NOW - timedelta(hours=1))
    body = monitoring_summary(engine=engine, models=MODELS, challenger_mode="shadow")
    engine.dispose()
    assert [(m["role"], m["records_last_24h"]) for m in body["models"]] == [
        ("champion", 30),
        ("challenger", 12),
    ]
    assert body["models"][0]["last_scored_at"] is not None
    drift = body["drift"]
    assert drift["model_version"] == "1"  # the champion's, though version 2 ran later
    assert drift["status"] == "warning"
    assert drift["max_feature_psi"] == {"feature": "income", "psi": 0.17}
    assert drift["drifted_features"] == ["income"]
    assert drift["mlflow_run_id"] == "run-1"
    assert "applicant" not in json.dumps(body)


def test_unreadable_database_is_degraded_not_an_error():
    engine = create_log_engine("postgresql+psycopg://postgres@127.0.0.1:9/none", connect_timeout=1)
    body = asyncio.run(monitoring_summary_async(engine=engine, models=MODELS, challenger_mode="split"))
    engine.dispose()
    assert body["status"] == "degraded"
    assert body["drift"]["status"] == "unavailable"
    assert "OperationalError" in body["drift"]["error"]
    assert body["models"][0]["traffic"]["status"] == "unavailable"
    assert body["challenger_mode"] == "split"


def test_no_log_configured():
    body = monitoring_summary(engine=None, models=MODELS[:1], challenger_mode="off")
    assert body["status"] == "degraded"
    assert body["drift"]["status"] == "unavailable"

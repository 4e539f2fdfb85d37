"""Outcomes loaded beside the inference log, realised metrics and production fairness computed by
the real drift job against a real PostgreSQL, pushed to the real Pushgateway and evaluated by the
shipped alert rules in a real Prometheus; audit attributes kept for their retention and erasable."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from credit_scoring.audit import adverse_impact, min_air
from inference_log import LOG_TABLE, create_log_engine, iter_rows
from monitoring.outcomes import OUTCOMES, OutcomeFileError, load_outcomes
from tests.monitoring.conftest import DRIFT_HASH_KEY, DriftEnv, DriftJob, write_log
from tests.monitoring.test_drift_job import prometheus_config, pushed, run_ok
from tests.servers import eventually

CLI = [str(Path(sys.executable).parent / "credit-scoring")]


def write_outcomes(path: Path, rows: list[tuple[str, object, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["application_id", "defaulted", "observed_at"])
        writer.writerows(rows)
    return path


def outcome_rows(url: str) -> dict[str, tuple[bool, datetime]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                r.application_id: (bool(r.defaulted), r.observed_at.replace(tzinfo=None))
                for r in conn.execute(sa.select(OUTCOMES))
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- loading
def test_loading_twice_is_safe_and_a_later_observation_wins(db_url: str, tmp_path: Path):
    first = write_outcomes(
        tmp_path / "march.csv",
        [("L1", "0", "2025-03-31"), ("L2", "1", "2025-03-31T10:00:00Z"), ("L3", "false", "2025-03-31")],
    )
    engine = create_log_engine(db_url)
    try:
        assert load_outcomes(engine, first).as_dict() == {
            "rows": 3,
            "inserted": 3,
            "updated": 0,
            "unchanged": 0,
        }
        assert load_outcomes(engine, first).as_dict() == {
            "rows": 3,
            "inserted": 0,
            "updated": 0,
            "unchanged": 3,
        }
        later = write_outcomes(
            tmp_path / "june.csv",
            [("L1", "1", "2025-06-30"), ("L3", "0", "2025-01-01"), ("L4", "true", "2025-06-30")],
        )
        result = load_outcomes(engine, later)
        # L1 defaulted since March; L3's January observation is older than what we hold: ignored.
        assert result.as_dict() == {"rows": 3, "inserted": 1, "updated": 1, "unchanged": 1}
        assert load_outcomes(engine, first).updated == 0  # loading March again changes nothing
    finally:
        engine.dispose()
    rows = outcome_rows(db_url)
    assert rows["L1"] == (True, datetime(2025, 6, 30))
    assert rows["L2"] == (True, datetime(2025, 3, 31, 10))
    assert rows["L3"] == (False, datetime(2025, 3, 31))
    assert set(rows) == {"L1", "L2", "L3", "L4"}


def test_a_bad_file_is_refused_whole_naming_every_line(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    bad = write_outcomes(
        tmp_path / "bad.csv",
        [
            ("L1", "0", "2025-03-31"),
            ("", "1", "2025-03-31"),
            ("L3", "maybe", "2025-03-31"),
            ("L4", "1", "soon"),
        ],
    )
    engine = create_log_engine(url)
    try:
        with pytest.raises(OutcomeFileError) as error:
            load_outcomes(engine, bad)
        (tmp_path / "cols.csv").write_text("application_id,default\nL1,1\n")
        with pytest.raises(OutcomeFileError, match="missing column"):
            load_outcomes(engine, tmp_path / "cols.csv")
        assert not sa.inspect(engine).has_table(OUTCOMES.name)  # nothing loaded, not even L1
    finally:
        engine.dispose()
    assert error.value.problems == [
        "line 3: application_id must be 1-64 characters",
        "line 4: defaulted must be 0/1 or true/false, got 'maybe'",
        "line 5: observed_at is not a date/time: 'soon'",
    ]


def test_outcomes_load_command(tmp_path: Path, postgres_server):
    url = postgres_server.url(postgres_server.create_database())
    env = {**os.environ, "CREDIT_INFERENCE_LOG_URL": url, "CREDIT_HOME": str(tmp_path)}
    good = write_outcomes(tmp_path / "o.csv", [("L1", "0", "2025-03-31"), ("L2", "1", "2025-04-01")])
    done = subprocess.run(
        [*CLI, "outcomes", "load", str(good)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "2 outcomes" in done.stdout
    assert "2 new" in done.stdout
    again = subprocess.run(
        [*CLI, "outcomes", "load", str(good)], env=env, capture_output=True, text=True, timeout=120
    )
    assert "2 already loaded" in again.stdout
    bad = write_outcomes(tmp_path / "bad.csv", [("L9", "x", "2025-03-31")])
    refused = subprocess.run(
        [*CLI, "outcomes", "load", str(bad)], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "nothing loaded" in refused.stderr
    assert "line 2" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert set(outcome_rows(url)) == {"L1", "L2"}


# --------------------------------------------------------------------------- the drift job
def _outcomes_for(records: list[Any], population: Any, observed: datetime) -> list[tuple[str, object, str]]:
    label = dict(zip(population["application_id"], population["default"], strict=True))
    ids = sorted({r.application_id for r in records if r.application_id})
    return [(i, int(label[i]), observed.isoformat()) for i in ids]


def test_realised_metrics_and_production_fairness_pushed_and_alerting(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway, prometheus_factory, tmp_path: Path
):
    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    records = drift_env.records(drift_env.population, 1500, seed=21, with_ids=True)
    write_log(url, tmp_path / "spill", records)
    outcomes = write_outcomes(
        tmp_path / "outcomes.csv", _outcomes_for(records, drift_env.population, datetime.now(UTC))
    )
    engine = create_log_engine(url)
    try:
        load_outcomes(engine, outcomes)
    finally:
        engine.dispose()

    # A 365-day performance window: loans without a default are not matured yet (observed after
    # a day), so only the defaults count and no AUC can be computed.
    early = run_ok(drift_job, CREDIT_OUTCOMES_MIN_MATURED="50")
    latest = {r.application_id: r for r in records}  # the version's latest decision per application
    label = dict(zip(drift_env.population["application_id"], drift_env.population["default"], strict=True))
    defaults = {i for i in latest if label[i]}
    realised = early["realised"]
    assert realised["decisions_with_id"] == len(latest)
    assert realised["outcomes_joined"] == len(latest)
    assert realised["matured"] == len(defaults)
    assert realised["auc"] is None
    assert realised["default_rate"] == 1.0

    # Window 0: every outcome matured. The realised AUC is the AUC of the logged PDs.
    summary = run_ok(drift_job, CREDIT_PERFORMANCE_WINDOW_DAYS="0", CREDIT_OUTCOMES_MIN_MATURED="50")
    realised = summary["realised"]
    y = np.array([label[i] for i in latest])
    pds = np.array([latest[i].pd for i in latest])
    assert realised["matured"] == len(latest)
    assert realised["auc"] == pytest.approx(roc_auc_score(y, pds), abs=1e-9)
    assert realised["default_rate"] == pytest.approx(y.mean())
    assert 0.3 < realised["ks"] < 0.9
    assert [b["band"] for b in realised["bands"]] == [b.name for b in drift_env.policy.bands]
    assert sum(b["outcomes"] for b in realised["bands"]) == len(latest)
    for band in realised["bands"]:
        assert band["expected_default_rate"] <= band["upper_default_rate"] <= 1.0

    fairness = summary["fairness"]
    window = records
    approved = np.array([r.decision == "approve" for r in window])
    expected = min_air(adverse_impact([r.age_band for r in window], approved))
    assert fairness["records"] == len(window)
    assert fairness["minimum"]["age_band"] == pytest.approx(expected)
    assert {g["group"] for g in fairness["groups"]["age_band"]} >= {"18-24", "25-34", "35-44", "62+"}
    # The session version was registered under a test exception: its floor is the accepted floor.
    assert fairness["air_floor"] == pytest.approx(0.3)

    gauges = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    assert gauges["credit_realised_auc"][()] == pytest.approx(realised["auc"])
    assert gauges["credit_outcomes_matured"][()] == len(latest)
    assert gauges["credit_development_auc"][()] == pytest.approx(
        drift_env.credit_env.training.test_metrics["auc"]
    )
    assert {dict(k)["band"] for k in gauges["credit_realised_band_default_rate"]} == {
        b.name for b in drift_env.policy.bands
    }
    assert gauges["credit_approval_air_min"][(("attribute", "age_band"),)] == pytest.approx(expected)
    assert gauges["credit_approval_air_floor"][()] == pytest.approx(0.3)
    air = {
        dict(k)["group"]: v
        for k, v in gauges["credit_approval_air"].items()
        if dict(k)["attribute"] == "age_band"
    }
    big = {g["group"] for g in fairness["groups"]["age_band"] if g["count"] >= 30 and g["group"] != "unknown"}
    assert set(air) == big

    # The shipped rules over these gauges in a real Prometheus: below four-fifths fires (info),
    # above the accepted floor does not.
    prom = prometheus_factory(prometheus_config(pushgateway.port))

    def firing() -> set[str]:
        alerts = httpx.get(f"{prom.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {
            a["labels"]["alertname"]
            for a in alerts
            if a["labels"].get("version") == drift_env.model_version and a["state"] == "firing"
        }

    if expected < 0.8:
        eventually(lambda: "CreditApprovalAIRBelowFourFifths" in firing(), 90, "the four-fifths alert")
    assert "CreditApprovalAIRBelowAcceptedFloor" not in firing()


# --------------------------------------------------------------------------- retention / erasure
def test_audit_attributes_expire_and_are_erased_per_applicant(
    drift_env: DriftEnv, drift_job: DriftJob, tmp_path: Path
):
    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    old = drift_env.records(drift_env.population, 200, seed=31, hours_ago=(24 * 800, 24 * 790))
    recent = drift_env.records(drift_env.population, 600, seed=32)
    write_log(url, tmp_path / "spill", old + recent)

    summary = run_ok(drift_job)  # applies the 730-day retention
    assert summary["audit_attributes_expired"] == sum(1 for r in old if r.age_band or r.marital)
    engine = create_log_engine(url)
    try:
        stored = list(iter_rows(engine))
    finally:
        engine.dispose()
    cutoff = datetime.now(UTC) - timedelta(days=730)
    assert all(r.age_band is None and r.marital is None for r in stored if r.logged_at < cutoff)
    assert sum(r.age_band is not None for r in stored if r.logged_at >= cutoff) > 500
    assert len(stored) == 800  # the decisions themselves stay

    # Erasure of one applicant through the command, with the log's own hash key.
    target = next(r for r in recent if r.age_band is not None)
    applicant = drift_env.population.loc[
        drift_env.population["applicant_id"].map(drift_env.hasher) == target.applicant_hash, "applicant_id"
    ].iloc[0]
    env = {
        **os.environ,
        "CREDIT_INFERENCE_LOG_URL": url,
        "CREDIT_INFERENCE_LOG_HASH_KEY": DRIFT_HASH_KEY.decode(),
        "CREDIT_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [*CLI, "audit", "erase", applicant], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    mine = [r for r in recent if r.applicant_hash == target.applicant_hash]
    assert (
        f"erased the audit attributes of {sum(1 for r in mine if r.age_band or r.marital)} records"
        in done.stdout
    )
    engine = create_log_engine(url)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                sa.select(sa.func.count()).where(
                    LOG_TABLE.c.applicant_hash == target.applicant_hash, LOG_TABLE.c.age_band.is_not(None)
                )
            ).scalar_one()
            others = conn.execute(
                sa.select(sa.func.count()).where(LOG_TABLE.c.age_band.is_not(None))
            ).scalar_one()
    finally:
        engine.dispose()
    assert left == 0
    assert others > 400


def test_a_result_with_undefined_ratios_is_valid_json(tmp_path: Path, postgres_server):
    """One declined decision: every group's approval rate is 0, so every AIR is undefined (NaN).
    The summary must still be JSON (PostgreSQL's JSONB and the job's stdout refuse NaN)."""
    import json

    from inference_log.drift_runs import latest_results, record_result
    from monitoring.analysis import DriftResult, Status
    from monitoring.performance import FairnessView

    rates = adverse_impact(["25-34"], np.array([False]))
    result = DriftResult(Status.INSUFFICIENT_DATA, "", "credit-risk", "1", "champion", "a", "b", 1, 10)
    result.fairness = FairnessView(1, 0.8, {"age_band": [r.__dict__ for r in rates]}, {})
    text = json.dumps(result.as_dict(), allow_nan=False)
    assert '"air": null' in text
    engine = create_log_engine(postgres_server.url(postgres_server.create_database()))
    try:
        record_result(engine, result.as_dict(), None)
        assert latest_results(engine)[0]["result"]["fairness"]["groups"]["age_band"][0]["air"] is None
    finally:
        engine.dispose()

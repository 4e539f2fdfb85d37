"""``python -m monitoring.drift`` end to end: the session's registered model and its reference
sample in the real MLflow (S3 artifacts), inference-log records in real PostgreSQL/SQLite,
gauges in the real Pushgateway, the shipped alert rules evaluated by a real Prometheus."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from credit_scoring.features import MODEL_FEATURES
from credit_scoring.policy import ScorePolicy
from inference_log import LOG_TABLE, Role, create_log_engine
from inference_log.drift_runs import latest_results
from inference_log.summary import ServedModel, monitoring_summary
from monitoring.analysis import DriftResult, Status
from monitoring.publish import push_result
from tests.monitoring.conftest import DriftEnv, DriftJob, write_log
from tests.monitoring.population import depends_on, request_ids_of, shifted
from tests.servers import eventually

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "charts" / "credit-scoring" / "files" / "rules").glob("*.yaml"))
DRIFT_ALERTS = {
    "CreditFeaturePSIWarning",
    "CreditFeaturePSICritical",
    "CreditScorePSIWarning",
    "CreditScorePSICritical",
    "CreditDriftShareHigh",
}


def pushed(
    pushgateway_url: str, model: str, version: str
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The drift group's samples in the Pushgateway: name -> {other labels: value}."""
    text = httpx.get(f"{pushgateway_url}/metrics", timeout=10).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if (
                labels.get("job") != "credit-drift"
                or labels.get("model") != model
                or labels.get("version") != version
            ):
                continue
            rest = tuple(
                sorted((k, v) for k, v in labels.items() if k not in {"job", "model", "version", "instance"})
            )
            out.setdefault(sample.name, {})[rest] = sample.value
    return out


def prometheus_config(pushgateway_port: int) -> str:
    rules = "\n".join(f"  - {p}" for p in RULE_FILES)
    return (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files:\n{rules}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{pushgateway_port}']}}]\n"
    )


def group_alerts(prometheus_url: str, model: str, version: str) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"].get("model") == model and a["labels"].get("version") == version]


def run_ok(job: DriftJob, **overrides: str) -> dict[str, Any]:
    result = job.run(**overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def psi_by_feature(summary: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in summary["feature_psi"].items()}


# --------------------------------------------------------------------------- stable / shifted
def test_stable_traffic_no_feature_above_warning_and_no_alert(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway, prometheus_factory, tmp_path: Path
):
    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    stable = drift_env.records(drift_env.population, 1500, seed=1)
    # A shifted burst *before* the window must not count: the window is the last 24 hours.
    old_shift = drift_env.records(shifted(drift_env.population), 800, seed=2, hours_ago=(40.0, 30.0))
    write_log(url, tmp_path / "spill", stable + old_shift)

    summary = run_ok(drift_job)
    assert summary["status"] == "ok", summary["message"]
    assert summary["records"] == 1500
    psi = psi_by_feature(summary)
    assert set(psi) == {f.name for f in MODEL_FEATURES}
    assert max(psi.values()) < 0.1, psi
    assert summary["score_psi"] < 0.1
    assert summary["drift_share"] < 0.5
    assert 0.0 < summary["approval_rate"] < 1.0
    assert abs(sum(summary["score_band_share"].values()) - 1.0) < 1e-9
    assert set(summary["score_band_share"]) == {b.name for b in drift_env.policy.bands}

    gauges = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    assert {dict(k)["feature"]: v for k, v in gauges["credit_feature_psi"].items()} == pytest.approx(psi)
    assert gauges["credit_drift_status"][(("status", "ok"),)] == 1.0
    assert gauges["credit_drift_records"][()] == 1500
    assert time.time() - gauges["credit_drift_last_success_timestamp_seconds"][()] < 300

    prom = prometheus_factory(prometheus_config(pushgateway.port))
    group = f'model="{drift_env.model_name}",version="{drift_env.model_version}"'

    def scraped() -> int:
        query = {"query": f"credit_feature_psi{{{group}}}"}
        return len(httpx.get(f"{prom.url}/api/v1/query", params=query, timeout=10).json()["data"]["result"])

    eventually(lambda: scraped() == len(MODEL_FEATURES), 60, "drift gauges scraped")
    time.sleep(4)  # a few rule evaluations over the scraped values
    active = [
        a
        for a in group_alerts(prom.url, drift_env.model_name, drift_env.model_version)
        if a["labels"]["alertname"] in DRIFT_ALERTS
    ]
    assert active == []


def test_shifted_traffic_crosses_critical_and_fires_the_alert(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway, prometheus_factory, tmp_path: Path
):
    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    write_log(url, tmp_path / "spill", drift_env.records(shifted(drift_env.population), 1500, seed=3))

    summary = run_ok(drift_job)
    psi = psi_by_feature(summary)
    assert summary["status"] == "critical"
    assert psi["income"] > 0.25, psi
    assert psi["amount"] > 0.25, psi
    moved = {"income", "amount"} | depends_on({"income", "amount"})
    untouched = {f.name for f in MODEL_FEATURES} - moved
    assert {name: psi[name] for name in untouched if psi[name] >= 0.1} == {}
    above_critical = {name for name, value in psi.items() if value > 0.25}
    assert above_critical <= moved, above_critical - moved
    assert summary["feature_drifted"]["income"] is True
    assert summary["feature_drifted"]["amount"] is True

    prom = prometheus_factory(prometheus_config(pushgateway.port))

    def critical_features() -> set[str]:
        return {
            a["labels"]["feature"]
            for a in group_alerts(prom.url, drift_env.model_name, drift_env.model_version)
            if a["labels"]["alertname"] == "CreditFeaturePSICritical" and a["state"] == "firing"
        }

    firing = eventually(
        lambda: critical_features() >= {"income", "amount"} and critical_features(),
        90,
        "CreditFeaturePSICritical firing for income and amount",
    )
    assert firing == above_critical


# --------------------------------------------------------------------------- artifacts and results
def test_reports_saved_in_mlflow_and_result_recorded(
    drift_env: DriftEnv, drift_job: DriftJob, tmp_path: Path
):
    from mlflow import MlflowClient

    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    write_log(url, tmp_path / "spill", drift_env.records(drift_env.population, 600, seed=4))
    summary = run_ok(drift_job)

    client = MlflowClient(drift_env.credit_env.tracking_uri)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.data.tags["drift_status"] == summary["status"]
    assert run.data.params["model_version"] == drift_env.model_version
    assert run.data.metrics["psi/income"] == pytest.approx(summary["feature_psi"]["income"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert artifacts == {
        "drift/evidently_report.html",
        "drift/evidently_report.json",
        "drift/drift_summary.json",
    }
    local = Path(client.download_artifacts(run.info.run_id, "drift", str(tmp_path / "dl")))
    report = json.loads((local / "evidently_report.json").read_text())
    drift_metrics = [m for m in report["metrics"] if m["config"]["type"].endswith(":DriftedColumnsCount")]
    assert drift_metrics[0]["value"]["share"] == pytest.approx(summary["drift_share"])
    assert "<html" in (local / "evidently_report.html").read_text()[:2000].lower()

    engine = create_log_engine(url)
    try:
        [latest] = latest_results(engine, drift_env.model_name, limit=1)
        body = monitoring_summary(
            engine=engine,
            models=[ServedModel("champion", drift_env.model_name, drift_env.model_version, "champion")],
            challenger_mode="off",
            model_name=drift_env.model_name,
        )
    finally:
        engine.dispose()
    assert latest["mlflow_run_id"] == summary["mlflow_run_id"]
    assert body["status"] == "ok"
    assert body["drift"]["status"] == summary["status"]
    assert body["drift"]["mlflow_run_id"] == summary["mlflow_run_id"]
    assert body["models"][0]["records_last_24h"] == 600


# --------------------------------------------------------------------------- insufficient data
def test_too_few_records_is_insufficient_data_not_an_alarm(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway, tmp_path: Path
):
    # SQLite this time: the job reads the embedded default through the same code.
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write_log(url, tmp_path / "spill", drift_env.records(shifted(drift_env.population), 120, seed=5))
    summary = run_ok(drift_job, CREDIT_INFERENCE_LOG_URL=url)
    assert summary["status"] == "insufficient_data"
    assert summary["records"] == 120
    assert "at least 500" in summary["message"]
    assert summary["feature_psi"] == {}
    gauges = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    assert gauges["credit_drift_status"][(("status", "insufficient_data"),)] == 1.0
    assert gauges["credit_drift_status"][(("status", "critical"),)] == 0.0
    assert gauges["credit_drift_records"][()] == 120
    for absent in ("credit_feature_psi", "credit_score_psi", "credit_drift_share", "credit_approval_rate"):
        assert absent not in gauges, absent


def test_empty_log_database_is_insufficient_data(drift_job: DriftJob):
    summary = run_ok(drift_job)  # a fresh database: not even the table exists yet
    assert summary["status"] == "insufficient_data"
    assert summary["records"] == 0


# --------------------------------------------------------------------------- shadow challenger
def test_champion_challenger_agreement_from_shadow_records(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway, tmp_path: Path
):
    champion = drift_env.records(drift_env.population, 600, seed=6)
    # The shadow challenger scores the very same rows, with a stricter approval cut-off.
    base = drift_env.policy
    stricter = ScorePolicy.model_validate(
        {**base.model_dump(), "approve_min_score": base.approve_min_score + 25}
    )
    challenger = drift_env.records(
        drift_env.population,
        600,
        seed=6,
        role=Role.CHALLENGER,
        model_version="2",
        policy=stricter,
        request_ids=request_ids_of(champion),
    )
    write_log(drift_job.env["CREDIT_INFERENCE_LOG_URL"], tmp_path / "spill", champion + challenger)
    expected = sum(a.decision == b.decision for a, b in zip(champion, challenger, strict=True)) / len(
        champion
    )
    assert 0.0 < expected < 1.0

    summary = run_ok(drift_job)
    assert summary["challenger_records"] == 600
    assert summary["champion_challenger_agreement"] == pytest.approx(expected)
    gauges = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    assert gauges["credit_champion_challenger_agreement"][()] == pytest.approx(expected)

    # The same comparison `credit-scoring compare` shows, as gauges per challenger version. A
    # stricter approval cut-off on the same scores only swaps approvals out, never in.
    swap_out = sum(
        a.decision == "approve" and b.decision != "approve" for a, b in zip(champion, challenger, strict=True)
    )
    assert swap_out > 0
    version = (("challenger_version", "2"),)
    assert gauges["credit_challenger_decision_flip_rate"][version] == pytest.approx(1 - expected)
    assert gauges["credit_challenger_swaps"][(*version, ("direction", "out"))] == swap_out
    assert gauges["credit_challenger_swaps"][(*version, ("direction", "in"))] == 0
    assert gauges["credit_challenger_swap_rate"][(*version, ("direction", "out"))] == pytest.approx(
        swap_out / 600
    )
    assert gauges["credit_challenger_score_delta"][version] == pytest.approx(0.0, abs=1e-9)
    assert gauges["credit_challenger_approval_rate_difference"][version] == pytest.approx(-swap_out / 600)
    assert gauges["credit_challenger_records"][(*version, ("kind", "shadow"))] == 600
    assert gauges["credit_challenger_records"][(*version, ("kind", "split"))] == 0
    assert summary["challengers"]["2"]["mode"] == "shadow"


# --------------------------------------------------------------------------- retired versions
def test_gauges_of_versions_no_alias_serves_are_retired(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway
):
    # Groups left by earlier versions (pushed through the job's own publisher, as a past run did).
    for model, version in ((drift_env.model_name, "999"), ("another-model", "999")):
        old = DriftResult(
            status=Status.CRITICAL,
            message="old",
            model_name=model,
            model_version=version,
            model_alias="champion",
            window_start="a",
            window_end="b",
            records=900,
            reference_records=1000,
            feature_psi={"income": 0.9},
            score_psi=0.3,
            drift_share=0.6,
        )
        push_result(pushgateway.url, "credit-drift", old, timeout=10)
    assert pushed(pushgateway.url, drift_env.model_name, "999")["credit_feature_psi"]
    run_ok(drift_job)
    assert pushed(pushgateway.url, drift_env.model_name, "999") == {}
    assert pushed(pushgateway.url, "another-model", "999") != {}  # not ours to retire
    assert pushed(pushgateway.url, drift_env.model_name, drift_env.model_version) != {}


# --------------------------------------------------------------------------- failures
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}, "MLflow"),
        ({"CREDIT_DRIFT_ALIAS": "no-such-alias"}, "not in the MLflow registry"),
        ({"CREDIT_DRIFT_VERSION": "424242"}, "not in the MLflow registry"),
        ({"CREDIT_PUSHGATEWAY_URL": "http://127.0.0.1:9"}, "Pushgateway"),
        (
            {"CREDIT_INFERENCE_LOG_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none"},
            "inference log database",
        ),
    ],
    ids=["mlflow-down", "unknown-alias", "unknown-version", "pushgateway-down", "log-db-down"],
)
def test_failures_exit_non_zero_with_a_clear_message(
    drift_job: DriftJob, overrides: dict[str, str], message: str
):
    result = drift_job.run(**overrides)
    assert result.returncode == 1, result.stderr[-2000:]
    [line] = [ln for ln in result.stderr.splitlines() if "drift job failed" in ln]
    assert message in line
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_settings_exit_2(drift_job: DriftJob):
    result = drift_job.run(CREDIT_DRIFT_WINDOW_HOURS="-3")
    assert result.returncode == 2
    assert "drift_window_hours" in result.stderr


def test_failure_after_resolving_marks_the_group_failed(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway
):
    run_ok(drift_job)  # a successful run first: its gauges must survive the failure
    before = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    result = drift_job.run(CREDIT_INFERENCE_LOG_URL="postgresql+psycopg://postgres@127.0.0.1:9/none")
    assert result.returncode == 1
    after = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    assert after["credit_drift_status"][(("status", "failed"),)] == 1.0
    assert after["credit_drift_status"][(("status", "insufficient_data"),)] == 0.0
    assert "credit_drift_last_failure_timestamp_seconds" in after
    assert (
        after["credit_drift_last_success_timestamp_seconds"]
        == before["credit_drift_last_success_timestamp_seconds"]
    )


def test_unexpected_error_after_resolving_also_marks_the_group_failed(
    drift_env: DriftEnv, drift_job: DriftJob, pushgateway, tmp_path: Path
):
    """A corrupt record (a feature value that is not a number) breaks the job in a way no handler
    expects: it still exits 1 with the trace, and the version's group says ``failed``."""
    run_ok(drift_job)  # a good run first, so the group's status is not "failed" already
    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    write_log(url, tmp_path / "spill", drift_env.records(drift_env.population, 600, seed=11))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(LOG_TABLE).values(features={"income": "not a number"}))
    finally:
        engine.dispose()
    result = drift_job.run()
    assert result.returncode == 1, result.stderr[-3000:]
    assert "drift job failed with an unexpected error" in result.stderr
    assert "ValueError" in result.stderr  # the trace says what broke
    assert result.stdout == ""
    after = pushed(pushgateway.url, drift_env.model_name, drift_env.model_version)
    assert after["credit_drift_status"][(("status", "failed"),)] == 1.0
    assert "credit_drift_last_failure_timestamp_seconds" in after


def test_window_is_configurable(drift_env: DriftEnv, drift_job: DriftJob, tmp_path: Path):
    url = drift_job.env["CREDIT_INFERENCE_LOG_URL"]
    write_log(
        url, tmp_path / "spill", drift_env.records(drift_env.population, 600, seed=7, hours_ago=(5.0, 3.0))
    )
    assert run_ok(drift_job, CREDIT_DRIFT_WINDOW_HOURS="6")["records"] == 600
    assert run_ok(drift_job, CREDIT_DRIFT_WINDOW_HOURS="2")["records"] == 0
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            statuses = [r[0] for r in conn.execute(sa.text("select status from drift_runs order by id"))]
    finally:
        engine.dispose()
    assert statuses[1] == "insufficient_data"
    assert statuses[0] != "insufficient_data"

"""Every dashboard panel shows data: a real Prometheus scrapes the running transformer, the
champion and shadow-challenger predictors and the Pushgateway (after the real drift job pushed),
after some load; each panel's PromQL must return at least one series. A panel that can never
show data fails here."""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from inference_log import create_log_engine
from monitoring.dashboards import DASHBOARDS
from monitoring.outcomes import load_outcomes
from tests.monitoring.conftest import DriftEnv, DriftJob
from tests.servers import eventually
from tests.transformer.conftest import Launcher, Server

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "charts" / "credit-scoring" / "files" / "dashboards"
# What Grafana substitutes before sending a query; $__rate_interval is at least 4 scrapes.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$model": ".*", "$version": ".*"}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL as Grafana sends it) for every target of every panel."""
    out = []
    for name in sorted(DASHBOARDS):
        board = json.loads((DASHBOARD_DIR / name).read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"unsubstituted variable in {expr}"
                out.append((name, panel["title"], expr))
    return out


def send_load(
    transformer_url: str,
    applicant_ids: list[str],
    seconds: float,
    seed: int = 0,
    application_ids: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[int, int]:
    """Valid batches (known and unknown applicants) and some invalid requests; status counts.
    Most applications carry an ``application_id``; those sent are appended to ``application_ids``."""
    rng = random.Random(seed)
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    url = f"{transformer_url}/v1/models/credit-scoring:predict"
    with httpx.Client(timeout=30, headers=headers) as client:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            if i % 10 == 0:
                body: dict[str, Any] = {"instances": [{"applicant_id": "x", "amount": -5, "term": 0}]}
            else:
                instances = []
                for _ in range(rng.randint(1, 8)):
                    price = rng.uniform(500, 4000)
                    known = rng.random() > 0.05
                    instance = {
                        "applicant_id": rng.choice(applicant_ids) if known else f"NEW{uuid.uuid4().hex[:10]}",
                        "amount": round(price * rng.uniform(0.3, 1.0), 2),
                        "price": round(price, 2),
                        "term": rng.choice([12, 24, 36, 48, 60]),
                    }
                    if application_ids is not None and rng.random() < 0.8:
                        instance["application_id"] = f"LIVE{uuid.uuid4().hex[:12]}"
                        application_ids.append(instance["application_id"])
                    instances.append(instance)
                body = {"instances": instances}
            status = client.post(url, json=body).status_code
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def prometheus_config(targets: dict[str, str], pushgateway_port: int) -> str:
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs: [{{targets: ['{target}']}}]\n"
        for job, target in targets.items()
    )
    return (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"{jobs}"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{pushgateway_port}']}}]\n"
    )


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]  # type: ignore[no-any-return]


def empty_panels(prometheus_url: str) -> list[tuple[str, str, str]]:
    return [(board, title, expr) for board, title, expr in panel_queries() if not query(prometheus_url, expr)]


@pytest.fixture
def serving(launcher: Launcher, drift_job: DriftJob) -> tuple[Server, Server, Server]:
    """Champion predictor, shadow challenger predictor, and a transformer shadowing to it and
    logging to the drift job's PostgreSQL inference log."""
    champion = launcher.predictor()
    challenger = launcher.predictor(model_uri=f"models:/{launcher.env.model_name}@challenger")
    transformer = launcher.transformer(
        champion,
        inference_log_url=drift_job.env["CREDIT_INFERENCE_LOG_URL"],
        shadow_predictor_host=f"127.0.0.1:{challenger.http_port}",
    )
    return champion, challenger, transformer


def test_every_dashboard_panel_returns_data(
    serving: tuple[Server, Server, Server],
    drift_env: DriftEnv,
    drift_job: DriftJob,
    pushgateway,
    prometheus_factory,
):
    champion, challenger, transformer = serving
    prom = prometheus_factory(
        prometheus_config(
            {
                "transformer": f"127.0.0.1:{transformer.http_port}",
                "predictor": f"127.0.0.1:{champion.http_port}",
                "predictor-shadow": f"127.0.0.1:{challenger.http_port}",
            },
            pushgateway.port,
        )
    )
    eventually(lambda: len(query(prom.url, "up == 1")) >= 4, 60, "all targets up")

    sent: list[str] = []
    statuses = send_load(
        transformer.url,
        drift_env.credit_env.applicant_ids,
        seconds=25,
        application_ids=sent,
        headers=transformer.auth,
    )
    assert statuses.get(200, 0) > 50, statuses
    assert statuses.get(400, 0) > 0, statuses
    assert set(statuses) <= {200, 400}, statuses

    # The drift job over what the transformer logged (champion and shadow records).
    eventually(lambda: transformer.metric("credit_inference_log_queue_depth") == 0, 60, "log drained")
    # Outcomes for the applications just decided (both classes), so the realised-performance
    # panels have data: a performance window of 0 days counts every outcome as matured.
    outcomes = Path(drift_job.cwd) / "outcomes.csv"
    outcomes.write_text(
        "application_id,defaulted,observed_at\n"
        + "".join(f"{app},{i % 3 == 0:d},2030-01-01T00:00:00Z\n" for i, app in enumerate(sent))
    )
    engine = create_log_engine(drift_job.env["CREDIT_INFERENCE_LOG_URL"])
    try:
        load_outcomes(engine, outcomes)
    finally:
        engine.dispose()
    result = drift_job.run(
        CREDIT_DRIFT_MIN_RECORDS="50", CREDIT_PERFORMANCE_WINDOW_DAYS="0", CREDIT_OUTCOMES_MIN_MATURED="20"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["status"] != "insufficient_data", summary["message"]
    assert summary["challenger_records"] > 0
    assert summary["champion_challenger_agreement"] is not None

    eventually(
        lambda: bool(query(prom.url, "credit_champion_challenger_agreement")), 60, "drift gauges scraped"
    )
    eventually(lambda: not empty_panels(prom.url), 60, "every panel to show data")
    assert empty_panels(prom.url) == []
    assert len(panel_queries()) >= 30


def test_panel_queries_parse():
    """Grafana variables are all substituted and every query names a metric (static check)."""
    for _board, _title, expr in panel_queries():
        assert re.search(r"\b(credit|request)_[a-z_]+", expr), expr

"""The test servers themselves work: each answers a real request."""

from __future__ import annotations

import httpx
import mlflow
import psycopg
import redis


def test_redis_answers(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set("k", "v")
    assert client.get("k") == b"v"


def test_postgres_answers(postgres_server):
    db = postgres_server.create_database()
    with psycopg.connect(postgres_server.dsn(db)) as conn:
        assert conn.execute("select 1 + 1").fetchone() == (2,)


def test_mlflow_logs_artifacts_to_s3(mlflow_server, tmp_path, monkeypatch):
    for k, v in mlflow_server.env().items():
        monkeypatch.setenv(k, v)
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_experiment("smoke")
    (tmp_path / "a.txt").write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "a.txt"))
    keys = [o["Key"] for o in mlflow_server.s3.client().list_objects_v2(Bucket="mlflow")["Contents"]]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/a.txt") for k in keys)


def test_prometheus_and_pushgateway(prometheus_factory, pushgateway):
    httpx.post(f"{pushgateway.url}/metrics/job/smoke", content=b"smoke_value 42\n").raise_for_status()
    target = f"127.0.0.1:{pushgateway.port}"
    prom = prometheus_factory(
        "global: {scrape_interval: 1s}\nscrape_configs:\n"
        f"  - job_name: pg\n    honor_labels: true\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    import time

    for _ in range(100):
        r = httpx.get(f"{prom.url}/api/v1/query", params={"query": "smoke_value"}).json()
        if r["data"]["result"]:
            break
        time.sleep(0.2)
    assert float(r["data"]["result"][0]["value"][1]) == 42.0

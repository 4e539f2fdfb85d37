"""Chart-code contract: every container the chart renders is started here with exactly its
rendered command, args and env (see local_cluster.py for the only translations), against real
PostgreSQL, Redis (with a password), S3, MLflow and Pushgateway; the serving containers must
answer their readiness and liveness probes on the declared port and paths, the jobs must finish.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psycopg
import pytest

from cli.stack.components import redis_command
from tests.deploy.local_cluster import LocalCluster, cluster_address, containers_of
from tests.deploy.rendering import CHART, NAMESPACE, RELEASE, ROOT, kustomize, render
from tests.servers import free_port, require_binary, start_process, wait_http, wait_port
from transformer.auth import hash_key

pytestmark = pytest.mark.slow

BUCKET = "deploy-contract"
API_KEY = secrets.token_urlsafe(32)  # the gateway's key for this run; the transformer gets its hash
FEAST_DB = "deploy_feast"


def _render() -> tuple[dict[str, Any], ...]:
    values = str(CHART / "ci" / "kind-values.yaml")
    return tuple(render("--set", f"stores.postgres.feastDatabase={FEAST_DB}", values=(values,)))


DOCS = _render()
CONTAINERS = containers_of(DOCS)
VALUES_STORES = {
    "mlflow": "http://mlflow.credit-data.svc.cluster.local:5000",
    "s3": "http://minio.credit-data.svc.cluster.local:9000",
    "redis": "redis.credit-data.svc.cluster.local:6379",
    "postgres": "postgresql.credit-data.svc.cluster.local:5432",
    "pushgateway": "http://pushgateway.credit-data.svc.cluster.local:9091",
}


# The image's /app/feature_repo is on the read-only root filesystem: nothing may write there.
READ_ONLY_SNAPSHOT: dict[str, float] = {}


def _snapshot() -> dict[str, float]:
    repo = ROOT / "feature_repo"
    return {str(p.relative_to(repo)): p.stat().st_mtime for p in repo.rglob("*") if p.is_file()}


def _overlay_mlflow() -> dict[str, Any]:
    (deployment,) = [
        d for d in kustomize("kind") if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def mlflow_argv(pg_port: int, database: str, port: int) -> list[str]:
    """The overlay's MLflow command with the store names pointed at the test servers."""
    container = _overlay_mlflow()
    argv = [*container["command"], *container["args"]]
    argv[0] = require_binary(argv[0])
    translated = []
    for arg in argv:
        arg = arg.replace("$(MLFLOW_DB_PASSWORD)", "unused")  # Kubernetes' $(VAR) expansion
        arg = arg.replace("@postgresql:5432/mlflow", f"@127.0.0.1:{pg_port}/{database}")
        translated.append(arg.replace("s3://mlflow/", f"s3://{BUCKET}/"))
    translated[translated.index("--host") + 1] = "127.0.0.1"
    translated[translated.index("--port") + 1] = str(port)
    return translated


def _create_database(dsn: str, name: str, owner: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone() is None:
            conn.execute(f'CREATE ROLE "{owner}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server, s3_server, pushgateway) -> Iterator[LocalCluster]:
    """The supporting stack of manifests/base, as local servers, plus the Secrets' contents."""
    work = tmp_path_factory.mktemp("deploy-contract")
    suffix = uuid.uuid4().hex[:6]
    # One database and owner per component, like manifests/base/postgresql.yaml's init script
    # (the test server trusts local connections, so the passwords are not checked).
    mlflow_db, log_db = f"deploy_mlflow_{suffix}", f"deploy_inference_log_{suffix}"
    _create_database(postgres_server.dsn(), mlflow_db, "mlflow")
    _create_database(postgres_server.dsn(), FEAST_DB, "feast")
    _create_database(postgres_server.dsn(), log_db, "inference_log")
    s3_server.client().create_bucket(Bucket=BUCKET)
    redis_password = secrets.token_hex(8)
    redis_port = free_port()
    redis = start_process(
        f"redis-{redis_port}",
        redis_command(redis_port, work, password=redis_password, binary=require_binary("redis-server")),
        work,
    )
    wait_port(redis, redis_port, timeout=30)
    # The MLflow server exactly as the kind overlay runs it (its args, translated like the chart's).
    mlflow_port = free_port()
    mlflow = start_process(
        f"mlflow-{mlflow_port}", mlflow_argv(postgres_server.port, mlflow_db, mlflow_port), work
    )
    wait_http(mlflow, f"http://127.0.0.1:{mlflow_port}/health", timeout=180)
    hosts = {
        cluster_address(VALUES_STORES["mlflow"]): ("127.0.0.1", mlflow_port),
        cluster_address(VALUES_STORES["s3"]): ("127.0.0.1", s3_server.port),
        VALUES_STORES["redis"]: ("127.0.0.1", redis_port),
        VALUES_STORES["postgres"]: ("127.0.0.1", postgres_server.port),
        cluster_address(VALUES_STORES["pushgateway"]): ("127.0.0.1", pushgateway.port),
    }
    s3_env = s3_server.env()
    secret_data = {
        "credit-scoring-s3": {
            "AWS_ACCESS_KEY_ID": s3_env["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3_env["AWS_SECRET_ACCESS_KEY"],
        },
        "credit-scoring-app": {
            "CREDIT_INFERENCE_LOG_URL": f"postgresql+psycopg://inference_log:unused@127.0.0.1:{postgres_server.port}/{log_db}",
            "CREDIT_INFERENCE_LOG_HASH_KEY": secrets.token_hex(32),
            "CREDIT_FEAST_REGISTRY_PASSWORD": "unused",
            "CREDIT_REDIS_PASSWORD": redis_password,
        },
        # As docs/deploy.md creates it: the hash of the gateway's key, never the key.
        "credit-scoring-api-key-hashes": {"e2e": hash_key(API_KEY) + "\n"},
    }
    urls = {"mlflow": f"http://127.0.0.1:{mlflow_port}", "pushgateway": pushgateway.url}
    READ_ONLY_SNAPSHOT.update(_snapshot())
    local = LocalCluster(hosts=hosts, secrets=secret_data, root=ROOT, work=work, urls=urls)
    yield local
    local.stop()
    mlflow.stop()
    redis.stop()


def _job(cluster: LocalCluster, name: str, timeout: float) -> str:
    proc = cluster.run_job(CONTAINERS[name], timeout=timeout)
    assert proc.returncode == 0, f"job {name} exited {proc.returncode}:\n{proc.tail(60)}"
    return proc.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def trained(cluster: LocalCluster) -> dict[str, Any]:
    """The hook Job (features apply + backfill), then the train Job, as rendered."""
    _job(cluster, "features-apply", timeout=900)
    log = _job(cluster, "train", timeout=1500)
    summary = json.loads(log[log.index("{") : log.rindex("}") + 1])
    return summary


@pytest.fixture(scope="module")
def predictor(cluster: LocalCluster, trained: dict[str, Any]) -> int:
    _, port = cluster.start_server(CONTAINERS["predictor"])
    cluster.hosts[f"{RELEASE}-predictor.{NAMESPACE}:80"] = ("127.0.0.1", port)
    return port


@pytest.fixture(scope="module")
def transformer(cluster: LocalCluster, predictor: int) -> int:
    _, port = cluster.start_server(CONTAINERS["transformer"])
    return port


def test_the_release_has_the_expected_containers():
    assert set(CONTAINERS) == {"transformer", "predictor", "drift", "materialize", "train", "features-apply"}


def test_mlflow_server_accepts_the_cluster_host_names(cluster):
    """MLflow 3 rejects unknown Host headers; pods call it by its Service name."""
    search = f"{cluster.urls['mlflow']}/api/2.0/mlflow/experiments/search?max_results=1"
    for host in (
        "mlflow.credit-data.svc.cluster.local:5000",
        "mlflow.credit-data:5000",
        "mlflow:5000",
        "10.244.1.7:5000",
    ):
        assert httpx.get(search, headers={"Host": host}, timeout=60).status_code == 200, host
    assert httpx.get(search, headers={"Host": "evil.example.com"}, timeout=60).status_code == 403


def test_jobs_register_features_and_a_model(cluster, trained):
    from mlflow import MlflowClient

    champion = MlflowClient(cluster.urls["mlflow"]).get_model_version_by_alias("credit-risk", "champion")
    assert str(champion.version) == str(trained["version"]), trained


@pytest.mark.parametrize("component", ["predictor", "transformer"])
def test_serving_containers_answer_their_probes(component, request):
    port = request.getfixturevalue(component)
    container = CONTAINERS[component]
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        if kind in container.spec:
            probe_port, path = container.probe(kind)
            assert probe_port == 8080
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200, (kind, path)


def _application(cluster: LocalCluster) -> dict[str, Any]:
    data_dir = next(Path(cluster.work / "features-apply").rglob("applications.parquet")).parent
    row = pd.read_parquet(data_dir / "applications.parquet").iloc[0]
    return {
        "applicant_id": str(row["applicant_id"]),
        "amount": float(row["amount"]),
        "price": float(row["price"]),
        "term": int(row["term"]),
    }


def test_gateway_rewrite_target_scores_through_the_real_chain(cluster, transformer):
    """The path the HTTPRoute rewrites /predict to answers with a credit decision."""
    (route,) = [d for d in DOCS if d["kind"] == "HTTPRoute" and d["metadata"]["name"] == RELEASE]
    (predict,) = [r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == "/predict"]
    target = predict["filters"][0]["urlRewrite"]["path"]["replaceFullPath"]
    reply = httpx.post(
        f"http://127.0.0.1:{transformer}{target}",
        json={"instances": [_application(cluster)]},
        headers={"x-api-key": API_KEY},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    (answer,) = reply.json()["predictions"]
    assert answer["decision"] in ("approve", "refer", "decline")
    assert answer["model"]["alias"] == "champion"


def test_monitoring_rewrite_target_answers(transformer):
    """/monitoring on the gateway is rewritten to this transformer path (gateway.monitoringPath)."""
    (route,) = [d for d in DOCS if d["kind"] == "HTTPRoute" and d["metadata"]["name"] == RELEASE]
    (rule,) = [r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == "/monitoring"]
    target = rule["filters"][0]["urlRewrite"]["path"]["replaceFullPath"]
    reply = httpx.get(f"http://127.0.0.1:{transformer}{target}", headers={"x-api-key": API_KEY}, timeout=30)
    assert reply.status_code == 200, (
        f"GET {target} on the transformer: {reply.status_code} {reply.text[:200]}"
    )
    assert "models" in reply.json()


def test_materialize_job_runs(cluster, trained):
    log = _job(cluster, "materialize", timeout=900)
    assert "Materializing" in log or "materializ" in log.lower()


def test_drift_job_runs_and_pushes(cluster, transformer):
    _job(cluster, "drift", timeout=900)
    metrics = httpx.get(f"{cluster.urls['pushgateway']}/metrics", timeout=10).text
    assert "credit_drift_status" in metrics


def test_containers_wrote_nothing_into_read_only_image_paths(cluster, trained, transformer):
    """Runs last: every job and server above used /app/feature_repo (this checkout's feature_repo)."""
    assert READ_ONLY_SNAPSHOT, "snapshot taken before the containers started"
    assert _snapshot() == READ_ONLY_SNAPSHOT

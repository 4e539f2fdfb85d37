"""The webhook bridge end to end: a real ``mlflow server`` with webhooks on (the session's
backend database and S3), ``credit-scoring promotion-hook`` as a process, a bare Git remote.
An alias moved in MLflow becomes a pushed promotion branch; a badly signed delivery gets 401
and changes nothing; MLflow's own delivery with a wrong secret is refused the same way."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from promotion.webhooks import sign
from tests.promotion.conftest import VALUES, cli_env, git, make_gitops
from tests.servers import free_port, require_binary, start_process, wait_http

pytestmark = pytest.mark.slow

SECRET = "hook-secret-" + uuid.uuid4().hex


@pytest.fixture
def webhook_mlflow(mlflow_server: Any, postgres_server: Any, tmp_path: Path):
    """A second MLflow server on the session's backend and artifacts, allowed to deliver to
    loopback over http (what an in-cluster hook needs: MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS)."""
    from cryptography.fernet import Fernet

    port = free_port()
    proc = start_process(
        f"mlflow-webhooks-{port}",
        [
            require_binary("mlflow"),
            "server",
            "--backend-store-uri",
            postgres_server.url("mlflow"),
            "--default-artifact-root",
            mlflow_server.artifact_root,
            "--no-serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        tmp_path / "mlflow-webhooks",
        env={
            **mlflow_server.s3.env(),
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_CACHE_TTL": "1",
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        },
    )
    wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=240)
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def branches(remote: Path) -> set[str]:
    return set(git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


def signed(body: bytes, secret: str) -> dict[str, str]:
    delivery, stamp = str(uuid.uuid4()), str(int(time.time()))
    return {
        "content-type": "application/json",
        "x-mlflow-delivery-id": delivery,
        "x-mlflow-timestamp": stamp,
        "x-mlflow-signature": sign(secret, delivery, stamp, body),
    }


def test_signed_webhook_becomes_a_pushed_branch_and_a_bad_one_is_refused(
    versions, webhook_mlflow, log_database, tmp_path: Path, unique_model
):
    from mlflow import MlflowClient

    name = unique_model("credit-risk-hook")
    versions.fresh_model(name)  # before any webhook exists: its registration events go nowhere
    gitops = make_gitops(tmp_path / "gitops", name)
    port = free_port()
    env = {
        **cli_env(versions.credit_env, name, log_database, tmp_path / "home"),
        "MLFLOW_TRACKING_URI": webhook_mlflow,
        "CREDIT_BIND_ADDRESS": "127.0.0.1",
        "CREDIT_PROMOTION_HOOK_SECRET": SECRET,
        "CREDIT_PROMOTION_HOOK_PORT": str(port),
        "CREDIT_PROMOTION_HOOK_REPO_DIR": str(tmp_path / "hook-clone"),
        "CREDIT_PROMOTION_HOOK_CLONE_URL": str(gitops.remote),
    }
    hook = start_process(
        "promotion-hook", [require_binary("credit-scoring"), "promotion-hook"], tmp_path, env=env
    )
    client = MlflowClient(webhook_mlflow)
    created = []
    try:
        wait_http(hook, f"http://127.0.0.1:{port}/healthz", timeout=180)
        url = f"http://127.0.0.1:{port}/webhook"
        good = client.create_webhook(
            name=f"promotion-{name}", url=url, events=["model_version_alias.created"], secret=SECRET
        )
        created.append(good.webhook_id)

        # A person moves @challenger in the MLflow UI: MLflow signs and delivers, the hook proposes.
        client.set_registered_model_alias(name, "challenger", "2")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(branches(gitops.remote)) < 2:
            time.sleep(0.5)
        proposed = sorted(branches(gitops.remote) - {"main"})
        assert len(proposed) == 1, hook.tail()
        (branch,) = proposed
        assert branch.startswith(f"promote/{name}-shadow-v2-")
        values = git(gitops.remote, "show", f"{branch}:{VALUES.as_posix()}")
        assert f"modelUri: models:/{name}/2" in values
        assert "mode: shadow" in values
        message = git(gitops.remote, "log", "-1", "--format=%B", branch)
        assert "[passed] fairness_gate" in message
        assert git(gitops.remote, "rev-parse", "main") == git(gitops.clone, "rev-parse", "HEAD"), (
            "main untouched"
        )

        # No loop: the step moved no alias (it was already set), so nothing else arrives.
        time.sleep(3)
        assert branches(gitops.remote) == {"main", branch}

        # A badly signed delivery: 401, nothing runs.
        body = json.dumps(
            {
                "entity": "model_version_alias",
                "action": "created",
                "data": {"name": name, "alias": "champion", "version": "2"},
            }
        ).encode()
        forged = httpx.post(url, content=body, headers=signed(body, "not-the-secret"), timeout=30)
        assert forged.status_code == 401
        unsigned = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
        assert unsigned.status_code == 401
        time.sleep(1)
        assert branches(gitops.remote) == {"main", branch}
        assert {k: str(v) for k, v in client.get_registered_model(name).aliases.items()} == {
            "champion": "1", "challenger": "2",
        }  # fmt: skip

        # MLflow itself delivering with the wrong secret gets the same 401; the right one, 200.
        wrong = client.create_webhook(
            name=f"wrong-{name}", url=url, events=["model_version_alias.created"], secret="wrong-secret"
        )
        created.append(wrong.webhook_id)
        refused = client.test_webhook(wrong.webhook_id)
        assert refused.response_status == 401, refused
        accepted = client.test_webhook(good.webhook_id)
        assert accepted.response_status == 200, accepted
        assert json.loads(accepted.response_body)["outcome"] == "ignored"  # MLflow's example model
        assert branches(gitops.remote) == {"main", branch}
    finally:
        for webhook_id in created:
            client.delete_webhook(webhook_id)
        hook.stop()

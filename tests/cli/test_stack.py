"""``credit-scoring stack up|status|down`` and ``credit-scoring score`` on real processes.

The stack runs against the session's MLflow (``MLFLOW_TRACKING_URI``, S3 artifacts) and the
session's prepared data, with its own Redis (or the embedded SQLite store), predictor and
transformer on free ports, state in a temporary folder. The examples are scored and must give
their documented outcomes with the session's model (the data and the training are deterministic).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cli.commands.score import send_file
from cli.commands.stack import DEMO_EXAMPLES, EXAMPLES, run_stack_demo
from cli.stack.settings import StackSettings
from cli.stack.supervisor import Supervised
from tests.credit_env import CreditEnv
from tests.servers import free_port
from transformer.routing import challenger_rows

CLI = [str(Path(sys.executable).parent / "credit-scoring")]


def _stack_env(credit_env: CreditEnv, tmp_path: Path, redis: str = "auto") -> dict[str, str]:
    return {
        **os.environ,
        **credit_env.mlflow.env(),
        "CREDIT_HOME": str(tmp_path / "home"),
        "CREDIT_DATA_DIR": str(credit_env.data_dir),
        "CREDIT_STACK_DIR": str(tmp_path / "stack"),
        "CREDIT_STACK_REDIS": redis,
        "CREDIT_STACK_REDIS_PORT": str(free_port()),
        "CREDIT_STACK_PREDICTOR_HTTP_PORT": str(free_port()),
        "CREDIT_STACK_PREDICTOR_GRPC_PORT": str(free_port()),
        "CREDIT_STACK_TRANSFORMER_HTTP_PORT": str(free_port()),
        "CREDIT_STACK_TRANSFORMER_GRPC_PORT": str(free_port()),
        "CREDIT_STACK_CHALLENGER_HTTP_PORT": str(free_port()),
        "CREDIT_STACK_CHALLENGER_GRPC_PORT": str(free_port()),
    }


def _cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env={**env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _expect(name: str, reply) -> None:
    """The documented outcome of each example (examples/README.md)."""
    if "invalid" in name:
        assert reply.status == 400, reply.body
        assert {(p["index"], p["field"]) for p in reply.body["problems"]} >= {(0, "amount")}
        return
    assert reply.status == 200, reply.body
    answers = reply.answers
    assert answers
    first = answers[0]
    if "approve" in name:
        assert first["decision"] == "approve"
        assert first["reasons"] == []
    elif "decline" in name:
        assert first["decision"] == "decline"
        assert len(first["reasons"]) >= 1
        assert all(r["contribution"] > 0 for r in first["reasons"])
    elif "refer" in name:
        assert first["decision"] == "refer"
        assert first["reasons"]
    elif "thin-file" in name:
        assert first["thin_file"] is True
        assert first["reasons"]
    elif "batch" in name:
        assert [a["decision"] for a in answers[:3]] == ["approve", "refer", "decline"]
        assert answers[3]["thin_file"] is True


def test_cli_stack_up_score_status_down(credit_env: CreditEnv, tmp_path: Path):
    """With a split challenger (the session's @challenger is the champion's version, so every
    example keeps its documented outcome whichever side decides it)."""
    env = _stack_env(credit_env, tmp_path)
    up = _cli(env, "stack", "up", "--challenger", "split:50")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        url = f"http://127.0.0.1:{env['CREDIT_STACK_TRANSFORMER_HTTP_PORT']}"
        assert url in up.stdout
        key_file = Path(env["CREDIT_HOME"]) / "api-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        (key,) = key_file.read_text().splitlines()
        assert f"x-api-key: $(cat {key_file})" in " ".join(up.stdout.split())
        hashes = (tmp_path / "stack" / "api-key-hashes").read_text()
        assert key not in hashes  # the transformer gets the hash only
        assert hashlib.sha256(key.encode()).hexdigest() in hashes

        status = _cli(env, "stack", "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        summary = json.loads(status.stdout)
        assert [p["name"] for p in summary["processes"]] == [
            "redis",
            "predictor",
            "challenger-predictor",
            "transformer",
        ]
        assert all(p["alive"] and p["ready"] for p in summary["processes"])
        assert summary["feature_store"].startswith("Redis at 127.0.0.1:")
        transformer = next(p for p in summary["processes"] if p["name"] == "transformer")
        # Exactly the container's command line.
        assert transformer["argv"][1:] == [
            "-m",
            "transformer",
            "--predictor_host",
            f"127.0.0.1:{env['CREDIT_STACK_PREDICTOR_HTTP_PORT']}",
            "--predictor_protocol",
            "v2",
            "--http_port",
            env["CREDIT_STACK_TRANSFORMER_HTTP_PORT"],
            "--grpc_port",
            env["CREDIT_STACK_TRANSFORMER_GRPC_PORT"],
        ]

        again = _cli(env, "stack", "up")  # idempotent
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert key_file.read_text().strip() == key  # never overwritten

        for example in sorted(EXAMPLES.glob("v*/*.json")):
            _expect(example.stem, send_file(example, url, api_key=key))
        refused = send_file(EXAMPLES / "v1" / "decline.json", url)
        assert (refused.status, refused.body["error"]) == (401, "unauthenticated")

        # The split: each applicant on the side the routing hash gives it, salted with the
        # challenger's version, and both sides present.
        ids = credit_env.applicant_ids[:60]
        instances = [{"applicant_id": a, "amount": 1000.0, "price": 1200.0, "term": 24} for a in ids]
        import httpx

        predictions = httpx.post(
            f"{url}/v1/models/credit-scoring:predict",
            json={"instances": instances},
            headers={"x-api-key": key},
            timeout=60,
        ).json()["predictions"]
        sides = challenger_rows(ids, 50, salt=credit_env.model_version)
        assert [p["model"]["role"] for p in predictions] == ["challenger" if c else "champion" for c in sides]
        assert 0 < sides.sum() < len(ids)

        # The servers' own metrics are on /metrics (not diverted to multiprocess files).
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'credit_http_requests_total{route="/v1/models/credit-scoring:predict",status="200"}' in metrics
        predictor_url = f"http://127.0.0.1:{env['CREDIT_STACK_PREDICTOR_HTTP_PORT']}"
        assert "credit_model_ready" in httpx.get(f"{predictor_url}/metrics", timeout=10).text

        table = _cli(env, "score", str(EXAMPLES / "v1" / "decline.json"), "--url", url)
        assert table.returncode == 0, table.stderr
        assert "decline" in table.stdout
        assert "R" in table.stdout
        assert "A00F9D06CC741" in table.stdout
        invalid = _cli(env, "score", str(EXAMPLES / "v2" / "invalid.json"), "--url", url)
        assert invalid.returncode == 1
        assert "HTTP 400" in invalid.stdout
        assert "greater than 0" in invalid.stdout
        # Lookup order: --api-key, then CREDIT_API_KEY, then the file.
        decline = str(EXAMPLES / "v1" / "decline.json")
        wrong_flag = _cli({**env, "CREDIT_API_KEY": key}, "score", decline, "--url", url, "--api-key", "x")
        assert wrong_flag.returncode == 1
        assert "HTTP 401" in wrong_flag.stdout
        wrong_env = _cli({**env, "CREDIT_API_KEY": "x"}, "score", decline, "--url", url)
        assert "HTTP 401" in wrong_env.stdout
    finally:
        down = _cli(env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert "stopped: transformer, challenger-predictor, predictor, redis" in down.stdout
    for p in summary["processes"]:
        assert not Supervised.attach(p).alive(), p["name"]
    assert _cli(env, "stack", "status").returncode == 1


def test_demo_ends_with_the_examples_on_the_embedded_online_store(
    credit_env: CreditEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What ``make demo`` runs after training, here without Redis (the SQLite online store)."""
    for key, value in _stack_env(credit_env, tmp_path, redis="off").items():
        monkeypatch.setenv(key, value)
    console = Console(record=True, width=160)
    statuses = run_stack_demo(console, StackSettings())
    assert statuses == [400 if "invalid" in name else 200 for name in DEMO_EXAMPLES]
    text = console.export_text()
    assert "SQLite" in text
    assert "demo complete" in text
    for name in ("approve", "decline", "thin-file", "invalid"):
        assert f"v1/{name}.json" in text
        assert f"v2/{name}.json" in text
    assert not (tmp_path / "stack" / "state.json").exists()  # stopped what it started


@pytest.mark.parametrize(
    ("given", "mode", "percent"),
    [("off", "off", 0), ("shadow", "shadow", 0), ("split:10", "split", 10), ("split:100", "split", 100)],
)
def test_challenger_setting(given: str, mode: str, percent: int):
    settings = StackSettings(challenger=given)
    assert (settings.challenger_mode, settings.challenger_percent) == (mode, percent)


@pytest.mark.parametrize("given", ["split", "split:101", "split:-1", "shadow:5", "canary", "split:ten"])
def test_bad_challenger_setting_is_refused(given: str):
    with pytest.raises(ValueError, match="split:PERCENT"):
        StackSettings(challenger=given)

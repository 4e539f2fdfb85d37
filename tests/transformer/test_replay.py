"""Replay: decisions the real transformer logged reproduce from the log's features and the
registry's version; a record whose features were altered does not."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from governance.replay import replay
from governance.version import VersionScorer
from tests.credit_env import CreditEnv
from tests.transformer.conftest import Launcher, Server

CLI = [str(Path(sys.executable).parent / "credit-scoring")]


def _scored(credit_env: CreditEnv, launcher: Launcher, transformer: Server) -> tuple[str, Path]:
    apps = credit_env.applications.sort_values("application_timestamp").iloc[-120:]
    instances = [
        {
            "applicant_id": r.applicant_id,
            "amount": float(r.amount),
            "price": float(r.price),
            "term": int(r.term),
        }
        for r in apps.itertuples()
    ]
    instances.append({"applicant_id": "NEW-APPLICANT-REPLAY", "amount": 900.0, "price": 1000.0, "term": 24})
    request_id = f"replay-{uuid.uuid4().hex[:8]}"
    response = httpx.post(
        f"{transformer.url}/v1/models/credit-scoring:predict",
        json={"instances": instances},
        headers={"x-request-id": request_id, **transformer.auth},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    decisions = {a["decision"] for a in response.json()["predictions"]}
    assert decisions == {"approve", "refer", "decline"}
    db = launcher.workdir / f"transformer-{transformer.http_port}" / "inference_log.db"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            try:
                (count,) = conn.execute(
                    "select count(*) from inference_log where request_id = ?", (request_id,)
                ).fetchone()
            except sqlite3.OperationalError:  # the writer creates the table with its first batch
                count = 0
        if count == len(instances):
            return request_id, db
        time.sleep(0.2)
    raise AssertionError("the request was not logged")


def test_logged_decisions_reproduce_and_altered_ones_do_not(
    credit_env: CreditEnv, stack_launcher: Launcher, transformer: Server, tmp_path: Path
):
    request_id, db = _scored(credit_env, stack_launcher, transformer)
    copy = tmp_path / "log.db"
    shutil.copy(db, copy)
    for suffix in ("-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")

    def load(name: str, version: str) -> VersionScorer:
        return VersionScorer.load(credit_env.tracking_uri, name, version)

    engine = sa.create_engine(f"sqlite:///{copy}")
    try:
        rows = replay(engine, request_id, load)
        assert len(rows) == 121
        assert all(r.reproduced for r in rows), [
            (r.row_index, r.differences) for r in rows if not r.reproduced
        ]
        assert any(r.logged["reason_codes"] for r in rows)  # reasons were replayed too
        assert rows[-1].logged["decision"] == "refer"  # the thin file, referred by policy

        # Someone edits a logged applicant's income: the record no longer reproduces.
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "update inference_log set features = json_set(features, '$.income', 1.0) "
                "where request_id = ? and row_index = 3",
                (request_id,),
            )
        altered = {r.row_index: r for r in replay(engine, request_id, load)}
        assert not altered[3].reproduced
        assert any(d.startswith("pd ") for d in altered[3].differences)
        assert all(r.reproduced for i, r in altered.items() if i != 3)
        assert replay(engine, "no-such-request", load) == []
    finally:
        engine.dispose()

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CREDIT_", "MLFLOW_"))},
        **credit_env.mlflow.env(),
        "CREDIT_INFERENCE_LOG_URL": f"sqlite:///{copy}",
        "CREDIT_HOME": str(tmp_path / "home"),
    }
    done = subprocess.run([*CLI, "replay", request_id], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]  # row 3 was altered
    assert "replay of request" in done.stdout
    missing = subprocess.run([*CLI, "replay", "nope"], env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2
    assert "no inference-log record" in missing.stderr

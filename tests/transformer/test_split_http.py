"""Split mode over the real servers: the session predictor is the champion, a second predictor
serves another registered version as the challenger, and transformers route between them.

Shows: answers carry ``model.role`` and the deciding side's version on v1, v2 and gRPC; the sides
are the routing hash's (salted with the challenger's version) and the same on another transformer
process; raising the percentage keeps the challenger's applicants; the inference log holds every
answer once, as served, under its request row; a shadow transformer's copies are logged as not
served."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from kserve import InferenceGRPCClient, InferInput, InferRequest
from mlflow import MlflowClient

from credit_scoring.errors import PredictorUnavailable
from tests.credit_env import CreditEnv
from tests.servers import free_port
from tests.transformer.conftest import Launcher, Server
from transformer.predictor_client import GrpcPredictorClient, RestPredictorClient
from transformer.routing import challenger_rows

V1 = "/v1/models/credit-scoring:predict"
CHALLENGER_MODEL = "credit-risk-split-challenger"


@pytest.fixture(scope="module")
def challenger_version(credit_env: CreditEnv) -> str:
    """The session model's artifacts registered again under a name of their own (a new version
    number, no alias moved on ``credit-risk``: other suites are unaffected)."""
    client = MlflowClient(tracking_uri=credit_env.tracking_uri)
    session = client.get_model_version(credit_env.model_name, credit_env.model_version)
    # The source is the logged model (``models:/m-...``), which MLflow wants named as model_id too.
    logged_model = session.source.removeprefix("models:/")
    client.create_registered_model(CHALLENGER_MODEL)
    for _ in range(2):  # version 2: a version number unlike the champion's
        version = client.create_model_version(
            CHALLENGER_MODEL, session.source, run_id=session.run_id, model_id=logged_model
        )
    return str(version.version)


@pytest.fixture(scope="module")
def challenger(stack_launcher: Launcher, challenger_version: str) -> Server:
    return stack_launcher.predictor(model_uri=f"models:/{CHALLENGER_MODEL}/{challenger_version}")


def _split(launcher: Launcher, champion: Server, challenger: Server, percent: int) -> Server:
    return launcher.transformer(
        champion,
        challenger_mode="split",
        challenger_percent=percent,
        challenger_predictor_host=f"127.0.0.1:{challenger.http_port}",
    )


def _apps(credit_env: CreditEnv, n: int) -> list[dict]:
    rows = credit_env.applications.sort_values("applicant_id").drop_duplicates("applicant_id").iloc[:n]
    return [
        {
            "applicant_id": r.applicant_id,
            "amount": float(r.amount),
            "price": float(r.price),
            "term": int(r.term),
        }
        for r in rows.itertuples()
    ]


def _score(server: Server, apps: list[dict], request_id: str) -> list[dict]:
    response = httpx.post(
        f"{server.url}{V1}",
        json={"instances": apps},
        headers={**server.auth, "x-request-id": request_id},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]  # type: ignore[no-any-return]


def _logged(server: Server, request_id: str, expected: int) -> list[tuple]:
    database = Path(server.process.log.parent) / f"transformer-{server.http_port}" / "inference_log.db"
    deadline = time.monotonic() + 30
    rows: list[tuple] = []
    while time.monotonic() < deadline:
        if database.exists():
            try:
                with sqlite3.connect(database) as conn:
                    rows = conn.execute(
                        "select row_index, role, served, model_name, model_version, decision, pd "
                        "from inference_log where request_id = ? order by row_index, role",
                        (request_id,),
                    ).fetchall()
            except sqlite3.OperationalError:  # the writer has opened the file, not made the table yet
                rows = []
            if len(rows) >= expected:
                break
        time.sleep(0.2)
    return rows


def test_split_answers_carry_their_side_and_the_log_says_what_was_served(
    stack_launcher: Launcher,
    predictor: Server,
    challenger: Server,
    challenger_version: str,
    credit_env: CreditEnv,
):
    apps = _apps(credit_env, 200)
    ids = [a["applicant_id"] for a in apps]
    at_30 = _split(stack_launcher, predictor, challenger, 30)
    at_60 = _split(stack_launcher, predictor, challenger, 60)

    answers = _score(at_30, apps, "split-30")
    sides = challenger_rows(ids, 30, salt=challenger_version)
    assert [a["applicant_id"] for a in answers] == ids
    assert [a["model"]["role"] for a in answers] == ["challenger" if s else "champion" for s in sides]
    for a, side in zip(answers, sides, strict=True):
        if side:
            assert a["model"]["name"] == CHALLENGER_MODEL
            assert a["model"]["version"] == challenger_version
        else:
            assert a["model"]["name"] == credit_env.model_name
            assert a["model"]["version"] == credit_env.model_version
    assert 0.15 < sides.mean() < 0.45  # both sides really present in this request

    # Stickiness across requests and processes, and monotone in the percentage: another
    # transformer at 60% keeps every applicant the first put on the challenger.
    again = _score(at_30, list(reversed(apps)), "split-30-again")
    assert [a["model"]["role"] for a in again] == [a["model"]["role"] for a in reversed(answers)]
    wider = _score(at_60, apps, "split-60")
    wider_sides = np.array([a["model"]["role"] == "challenger" for a in wider])
    assert (wider_sides == challenger_rows(ids, 60, salt=challenger_version)).all()
    assert (wider_sides | ~sides).all()
    assert wider_sides.sum() > sides.sum()

    # The log: every answer once, served, by the side and version that gave it, at its row.
    rows = _logged(at_30, "split-30", len(apps))
    assert [(r[0], r[1], r[2]) for r in rows] == [(i, a["model"]["role"], 1) for i, a in enumerate(answers)]
    assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
        (a["model"]["name"], a["model"]["version"], a["decision"], a["pd"]) for a in answers
    ]

    # v2 over gRPC: each ``answers`` element carries the role too.
    async def grpc_answers() -> list[dict]:
        inputs = [InferInput("applications", [len(apps[:20])], "BYTES")]
        inputs[0].set_data_from_numpy(np.array([orjson.dumps(a) for a in apps[:20]], dtype=np.object_))
        client = InferenceGRPCClient(at_30.grpc_target, timeout=30)
        try:
            request = InferRequest(model_name="credit-scoring", infer_inputs=inputs)
            response = await client.infer(request, headers=tuple(at_30.auth.items()))
        finally:
            await client.close()
        return [orjson.loads(a) for a in response.get_output_by_name("answers").as_numpy()]

    over_grpc = asyncio.run(grpc_answers())
    assert [a["model"]["role"] for a in over_grpc] == [a["model"]["role"] for a in answers[:20]]


def test_shadow_copies_are_logged_as_not_served(
    stack_launcher: Launcher,
    predictor: Server,
    challenger: Server,
    challenger_version: str,
    credit_env: CreditEnv,
):
    shadowing = stack_launcher.transformer(
        predictor, challenger_mode="shadow", shadow_predictor_host=f"127.0.0.1:{challenger.http_port}"
    )
    apps = _apps(credit_env, 10)
    answers = _score(shadowing, apps, "shadowed")
    assert {a["model"]["role"] for a in answers} == {"champion"}
    rows = _logged(shadowing, "shadowed", 2 * len(apps))
    assert sorted((r[0], r[1], r[2], r[4]) for r in rows) == sorted(
        [(i, "champion", 1, credit_env.model_version) for i in range(len(apps))]
        + [(i, "challenger", 0, challenger_version) for i in range(len(apps))]
    )


async def test_the_challengers_version_is_read_over_both_protocols(
    challenger: Server, challenger_version: str
):
    """The router's salt before the challenger's first answer: its v2 metadata, over REST and
    over gRPC (whose metadata KServe's own servicer returns without versions)."""
    clients = [
        RestPredictorClient(
            f"127.0.0.1:{challenger.http_port}",
            "credit-risk",
            timeout=10,
            connect_timeout=2,
            max_connections=2,
        ),
        GrpcPredictorClient(challenger.grpc_target, "credit-risk", timeout=10),
    ]
    try:
        assert [await c.served_version() for c in clients] == [challenger_version] * 2
    finally:
        for c in clients:
            await c.close()
    nowhere = RestPredictorClient(
        f"127.0.0.1:{free_port()}", "credit-risk", timeout=2, connect_timeout=1, max_connections=1
    )
    with pytest.raises(PredictorUnavailable, match="unreachable"):
        await nowhere.served_version()
    await nowhere.close()

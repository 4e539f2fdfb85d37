"""Round trips over real HTTP and gRPC: transformer -> Redis (Feast) + predictor -> credit answers."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from bench.payloads import transformer_v2_request
from credit_scoring.features import PROFILE_FIELDS
from credit_scoring.reasons import REASON_CODES
from tests.credit_env import CreditEnv
from tests.transformer.conftest import Server
from tests.transformer.payload_cases import CASES, BadPayload

V1 = "/v1/models/credit-scoring:predict"
V2 = "/v2/models/credit-scoring/infer"


def _apps(credit_env: CreditEnv, n: int, offset: int = 0) -> list[dict]:
    rows = credit_env.applications.sort_values("applicant_id").iloc[offset : offset + n]
    return [
        {
            "applicant_id": r.applicant_id,
            "amount": float(r.amount),
            "price": float(r.price),
            "term": int(r.term),
        }
        for r in rows.itertuples()
    ]


def _v1(server: Server, instances: list[dict], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.url}{V1}",
        json={"instances": instances},
        timeout=30,
        headers={**server.auth, **(headers or {})},
    )


def _answers_v2(doc: dict) -> list[dict]:
    outputs = {o["name"]: o for o in doc["outputs"]}
    return [orjson.loads(a) for a in outputs["answers"]["data"]]


def _strip(answers: list[dict]) -> list[dict]:
    return [{k: v for k, v in a.items() if k != "request_id"} for a in answers]


def test_v1_round_trip(transformer: Server, credit_env: CreditEnv):
    apps = _apps(credit_env, 20)
    response = _v1(transformer, apps)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert [a["applicant_id"] for a in answers] == [a["applicant_id"] for a in apps]
    policy = credit_env.policy
    for a in answers:
        assert 0.0 < a["pd"] < 1.0
        assert a["thin_file"] is False
        assert a["model"] == {
            "name": "credit-risk",
            "version": credit_env.model_version,
            "alias": "champion",
            "role": "champion",
        }
        expected = (
            "approve"
            if a["score"] >= policy.approve_min_score
            else "decline"
            if a["score"] < policy.decline_below_score
            else "refer"
        )
        assert a["decision"] == expected
        assert a["risk_band"] == policy.band(np.array([a["score"]]))[0]
        assert (a["reasons"] == []) == (a["decision"] == "approve")
        assert all(r["contribution"] > 0 for r in a["reasons"])
        assert len(a["reasons"]) <= policy.max_reasons
    assert response.headers["x-request-id"] == answers[0]["request_id"]


def test_v2_both_forms_give_the_v1_answers(transformer: Server, credit_env: CreditEnv):
    apps = _apps(credit_env, 8, offset=100)
    v1 = _v1(transformer, apps).json()["predictions"]
    columns = httpx.post(
        f"{transformer.url}{V2}",
        json={"id": "req-cols", **transformer_v2_request(apps)},
        timeout=30,
        headers=transformer.auth,
    )
    assert columns.status_code == 200, columns.text
    as_bytes = httpx.post(
        f"{transformer.url}{V2}",
        timeout=30,
        headers=transformer.auth,
        json={
            "inputs": [
                {
                    "name": "applications",
                    "datatype": "BYTES",
                    "shape": [len(apps)],
                    "data": [orjson.dumps(a).decode() for a in apps],
                }
            ]
        },
    )
    assert as_bytes.status_code == 200, as_bytes.text
    doc = columns.json()
    assert doc["model_name"] == "credit-scoring"
    assert doc["id"] == "req-cols"
    assert doc["model_version"] == credit_env.model_version
    assert _strip(_answers_v2(doc)) == _strip(v1) == _strip(_answers_v2(as_bytes.json()))
    outputs = {o["name"]: o for o in doc["outputs"]}
    assert outputs["pd"]["data"] == [a["pd"] for a in v1]
    assert outputs["decision"]["data"] == [a["decision"] for a in v1]
    assert outputs["thin_file"]["datatype"] == "BOOL"


def test_v2_metadata_lists_inputs_and_outputs(transformer: Server):
    doc = httpx.get(
        f"{transformer.url}/v2/models/credit-scoring", timeout=10, headers=transformer.auth
    ).json()
    assert doc["name"] == "credit-scoring"
    assert {i["name"]: i["datatype"] for i in doc["inputs"]} == {
        "applicant_id": "BYTES",
        "amount": "FP64",
        "price": "FP64",
        "term": "INT64",
    }
    assert {o["name"] for o in doc["outputs"]} >= {"answers", "pd", "score", "decision"}
    assert httpx.get(f"{transformer.url}/v2/health/ready", timeout=10).status_code == 200


async def test_kserve_rest_client_works(transformer: Server, credit_env: CreditEnv):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    apps = _apps(credit_env, 3, offset=200)
    inputs = [
        InferInput("applicant_id", [3], "BYTES"),
        InferInput("amount", [3], "FP64"),
        InferInput("price", [3], "FP64"),
        InferInput("term", [3], "INT64"),
    ]
    inputs[0].set_data_from_numpy(
        np.array([a["applicant_id"] for a in apps], dtype=np.object_), binary_data=False
    )
    inputs[1].set_data_from_numpy(np.array([a["amount"] for a in apps]), binary_data=False)
    inputs[2].set_data_from_numpy(np.array([a["price"] for a in apps]), binary_data=False)
    inputs[3].set_data_from_numpy(np.array([a["term"] for a in apps], dtype=np.int64), binary_data=False)
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        response = await client.infer(
            transformer.url,
            InferRequest(model_name="credit-scoring", infer_inputs=inputs),
            model_name="credit-scoring",
            headers=transformer.auth,
        )
    finally:
        await client.close()
    pd_ = response.get_output_by_name("pd").as_numpy()
    expected = [a["pd"] for a in _v1(transformer, apps).json()["predictions"]]
    np.testing.assert_allclose(pd_, expected, rtol=0, atol=1e-12)
    decisions = response.get_output_by_name("decision").as_numpy()
    assert len(decisions) == 3


async def test_kserve_grpc_client_works(transformer: Server, credit_env: CreditEnv):
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    apps = _apps(credit_env, 2, offset=300)
    inputs = [InferInput("applications", [2], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([orjson.dumps(a) for a in apps], dtype=np.object_))
    client = InferenceGRPCClient(transformer.grpc_target, timeout=30)
    try:
        metadata = tuple(transformer.auth.items())
        response = await client.infer(
            InferRequest(model_name="credit-scoring", infer_inputs=inputs), headers=metadata
        )
        answers = [orjson.loads(a) for a in response.get_output_by_name("answers").as_numpy()]
        expected = _v1(transformer, apps).json()["predictions"]
        assert _strip(answers) == _strip(expected)
        # Bad input over gRPC is INVALID_ARGUMENT naming the problem, not INTERNAL.
        import grpc

        bad = [InferInput("applications", [1], "BYTES")]
        bad[0].set_data_from_numpy(np.array([orjson.dumps({**apps[0], "term": 0})], dtype=np.object_))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.infer(InferRequest(model_name="credit-scoring", infer_inputs=bad), headers=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "term" in (caught.value.details() or "")
    finally:
        await client.close()


def test_unknown_applicant_takes_the_thin_file_path(transformer: Server, credit_env: CreditEnv):
    response = _v1(
        transformer, [{"applicant_id": "NEW-APPLICANT-0001", "amount": 800.0, "price": 1000.0, "term": 12}]
    )
    assert response.status_code == 200, response.text
    answer = response.json()["predictions"][0]
    assert answer["thin_file"] is True
    assert answer["decision"] == credit_env.policy.thin_file_decision.value
    assert answer["reasons"]  # refer or decline: adverse-action reasons are owed
    assert all(r["contribution"] > 0 for r in answer["reasons"])
    # Nothing is known of the applicant's profile, so no profile feature is cited by name: the
    # missing information is one reason, and only application fields can be cited besides it.
    codes = [r["code"] for r in answer["reasons"]]
    assert "R00" in codes
    profile_codes = {REASON_CODES[f.name][0] for f in PROFILE_FIELDS if f.name in REASON_CODES}
    assert not profile_codes & set(codes)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_payload_gets_a_4xx_naming_the_problem(transformer: Server, case: BadPayload):
    path = V1 if case.protocol == "v1" else V2
    response = httpx.post(
        f"{transformer.url}{path}",
        content=case.body,
        headers={"content-type": case.content_type, **transformer.auth},
        timeout=30,
    )
    assert response.status_code == case.status, response.text
    doc = response.json()
    assert case.matches(doc), doc
    assert doc["error"]
    assert "Traceback" not in response.text
    assert doc["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("path", [V1, V2])
def test_oversized_body_is_413_with_the_error_body_and_request_id(transformer: Server, path: str):
    body = b'{"instances": [' + b" " * 2_100_000 + b"]}"
    response = httpx.post(
        f"{transformer.url}{path}",
        content=body,
        headers={"content-type": "application/json", "x-request-id": "too-big-1", **transformer.auth},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "code": "payload_too_large",
        "request_id": "too-big-1",
    }
    assert response.headers["x-request-id"] == "too-big-1"
    made = httpx.post(f"{transformer.url}{path}", content=body, timeout=30, headers=transformer.auth)
    assert made.status_code == 413
    assert made.json()["request_id"] == made.headers["x-request-id"]
    assert len(made.json()["request_id"]) == 32


def test_errors_on_kserves_own_routes_carry_the_request_id_too(transformer: Server):
    headers = {"x-request-id": "kserve-route-1", **transformer.auth}
    unknown = httpx.get(f"{transformer.url}/v2/models/no-such-model", headers=headers, timeout=10)
    assert unknown.status_code == 404
    assert unknown.json()["request_id"] == "kserve-route-1"
    assert unknown.headers["x-request-id"] == "kserve-route-1"


def test_request_id_is_kept_or_made(transformer: Server, credit_env: CreditEnv):
    apps = _apps(credit_env, 1)
    given = _v1(transformer, apps, headers={"x-request-id": "client-req-42"})
    assert given.json()["predictions"][0]["request_id"] == "client-req-42"
    assert given.headers["x-request-id"] == "client-req-42"
    junk = _v1(transformer, apps, headers={"x-request-id": "<script>alert(1)</script>"})
    made = junk.json()["predictions"][0]["request_id"]
    assert made != "<script>alert(1)</script>"
    assert len(made) == 32


def test_metrics_have_the_contract_names(transformer: Server, credit_env: CreditEnv):
    _v1(transformer, _apps(credit_env, 30, offset=400))
    httpx.post(
        f"{transformer.url}{V1}",
        content=b"{",
        headers={"content-type": "application/json", **transformer.auth},
        timeout=10,
    )
    m = transformer.metrics()
    names = {name for name, _ in m}
    assert transformer.metric("credit_http_requests_total", route=V1, status="200") >= 1
    assert transformer.metric("credit_http_requests_total", route=V1, status="400") >= 1
    for stage in ("validate", "features", "predict", "answer"):
        assert transformer.metric("credit_stage_duration_seconds_count", stage=stage) >= 1
    decided = sum(
        v
        for (name, labels), v in m.items()
        if name == "credit_applications_total"
        and dict(labels).get("role") == "champion"
        and dict(labels).get("model_version") == credit_env.model_version
    )
    assert decided >= 30
    # Start-up's heap is frozen out of the garbage collector (full collections over it were
    # 130-170 ms event-loop pauses: the batch p99); a running server has frozen a large heap.
    assert transformer.metric("credit_gc_frozen_objects") > 100_000
    for name in (
        "credit_http_request_duration_seconds_bucket",
        "credit_score_bucket",
        "credit_reason_codes_total",
        "credit_dependency_failures_total",
        "credit_inference_log_queue_depth",
        "credit_inference_log_records_total",
        "request_preprocess_seconds_count",
        "request_predict_seconds_count",
        "request_postprocess_seconds_count",
    ):
        assert name in names, name


def test_every_answer_is_in_the_inference_log(transformer: Server, credit_env: CreditEnv):
    response = _v1(transformer, _apps(credit_env, 25, offset=600), headers={"x-request-id": "log-check-1"})
    answers = response.json()["predictions"]
    database = (
        Path(transformer.process.log.parent) / f"transformer-{transformer.http_port}" / "inference_log.db"
    )
    deadline = time.monotonic() + 20
    rows: list = []
    while time.monotonic() < deadline:
        if database.exists():
            with sqlite3.connect(database) as conn:
                rows = conn.execute(
                    "select row_index, pd, decision, model_version, role, applicant_hash "
                    "from inference_log where request_id = ? order by row_index",
                    ("log-check-1",),
                ).fetchall()
            if len(rows) == len(answers):
                break
        time.sleep(0.2)
    assert [r[0] for r in rows] == list(range(len(answers)))
    assert [r[1] for r in rows] == [a["pd"] for a in answers]
    assert [r[2] for r in rows] == [a["decision"] for a in answers]
    assert {r[3] for r in rows} == {credit_env.model_version}
    assert {r[4] for r in rows} == {"champion"}
    assert all(a["applicant_id"] not in r[5] for a, r in zip(answers, rows, strict=True))  # hashed, never raw


def test_logs_carry_request_id_and_latency_never_applicant_data(transformer: Server, credit_env: CreditEnv):
    apps = _apps(credit_env, 2, offset=700)
    _v1(transformer, apps, headers={"x-request-id": "log-line-check"})
    time.sleep(0.3)
    log = transformer.log()
    line = next(line for line in log.splitlines() if "request_id=log-line-check" in line)
    assert "latency_ms=" in line
    for a in apps:
        assert a["applicant_id"] not in log


def test_kserve_routes_answer_malformed_bodies_with_400_not_422(transformer: Server):
    """The routes KServe still serves (versioned v2 infer) parse bodies with FastAPI, whose 422
    for a malformed body becomes the platform's 400 with field problems."""
    response = httpx.post(
        f"{transformer.url}/v2/models/credit-scoring/versions/1/infer",
        content=b'{"inputs": [',
        headers={"content-type": "application/json", "x-request-id": "kserve-422", **transformer.auth},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    doc = response.json()
    assert doc["problems"]
    assert doc["error"]
    assert doc["request_id"] == "kserve-422"

"""A hot reload seen through the transformer: moving the alias switches the answers' model
version within the predictor's poll interval, with zero failed requests under concurrent load,
every answer's decision follows the policy of the version that scored it, and the predictor is
called exactly once per request throughout (its row counter equals the applications answered)."""

from __future__ import annotations

import threading
import time
import uuid

import httpx

from tests.credit_env import CreditEnv
from tests.transformer.conftest import Launcher

POLL_SECONDS = 1.0


def test_alias_move_under_load_switches_version_with_zero_failures(credit_env: CreditEnv, launcher: Launcher):
    from training.registry import set_alias

    name = f"transformer-reload-{uuid.uuid4().hex[:6]}"
    first = credit_env.train_new_version(model_name=name, seed=11)  # champion + challenger
    second = credit_env.train_new_version(model_name=name, seed=12)  # challenger only
    assert (first.version, second.version) == ("1", "2")
    predictor = launcher.predictor(
        model_uri=f"models:/{name}@champion", poll_interval_seconds=str(POLL_SECONDS)
    )
    transformer = launcher.transformer(predictor)
    ids = credit_env.applicant_ids[:4]
    body = {"instances": [{"applicant_id": i, "amount": 1000.0, "price": 1500.0, "term": 24} for i in ids]}
    url = f"{transformer.url}/v1/models/credit-scoring:predict"

    rows_metric = {"model": name}
    rows_before = predictor.metric("credit_predict_rows_total", **rows_metric)
    seen: list[tuple[float, int, list[dict]]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30, headers=transformer.auth) as http:
            while not stop.is_set():
                response = http.post(url, json=body)
                answers = response.json().get("predictions", []) if response.status_code == 200 else []
                seen.append((time.monotonic(), response.status_code, answers))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(2.0)
        moved_at = time.monotonic()
        set_alias(credit_env.tracking_uri, name, "champion", second.version)
        deadline = moved_at + 60
        while time.monotonic() < deadline:
            recent = [answers for at, status, answers in seen[-8:] if status == 200]
            if recent and all(a["model"]["version"] == "2" for answers in recent for a in answers):
                break
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert seen
    assert [status for _, status, _ in seen if status != 200] == []
    answered = sum(len(answers) for _, _, answers in seen)
    scored = predictor.metric("credit_predict_rows_total", **rows_metric) - rows_before
    assert scored == answered  # one predictor call per request, the reload included
    versions = {a["model"]["version"] for _, _, answers in seen for a in answers}
    assert versions == {"1", "2"}
    switched = min(at for at, _, answers in seen if answers and answers[0]["model"]["version"] == "2")
    assert switched - moved_at < POLL_SECONDS + 30  # poll interval plus loading a version on a busy machine
    policies = {"1": first.policy, "2": second.policy}
    for _, _, answers in seen:
        assert len({a["model"]["version"] for a in answers}) == 1  # one version per answer batch
        for a in answers:
            policy = policies[a["model"]["version"]]
            expected = (
                "approve"
                if a["score"] >= policy.approve_min_score
                else "decline"
                if a["score"] < policy.decline_below_score
                else "refer"
            )
            assert a["decision"] == expected

"""The pieces of a promotion without servers: the values file, MLflow's signature, the event
table, and commits made with git's plumbing on a real repository."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from promotion.git import GitRepo
from promotion.steps import Step
from promotion.values_file import Mode, PinnedState, ValuesFileError, parse_state, render_state
from promotion.webhooks import BadSignature, sign, step_for, verify


# ----------------------------------------------------------------------------- values file
def test_values_file_round_trips_every_mode():
    for state in (
        PinnedState("credit-risk", "3"),
        PinnedState("credit-risk", "3", Mode.SHADOW, 0, "4"),
        PinnedState("credit-risk", "3", Mode.SPLIT, 10, "4"),
    ):
        assert parse_state(render_state(state), "credit-risk") == state


def test_values_file_with_no_challenger_still_names_a_valid_uri():
    text = render_state(PinnedState("credit-risk", "3"))
    assert "modelUri: models:/credit-risk/3" in text
    assert "mode: 'off'" in text


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("predictor: {modelUri: 'models:/credit-risk@champion'}", "never aliases"),
        ("predictor: {modelUri: 'models:/other/3'}", "not 'credit-risk'"),
        (
            "predictor: {modelUri: 'models:/credit-risk/3'}\nchallenger: {mode: canary}",
            "off, shadow or split",
        ),
        (
            "predictor: {modelUri: 'models:/credit-risk/3'}\n"
            "challenger: {mode: split, percent: 120, modelUri: 'models:/credit-risk/4'}",
            "0-100",
        ),
    ],
)
def test_values_file_refuses_what_production_cannot_pin(text, complaint):
    with pytest.raises(ValuesFileError, match=complaint):
        parse_state(text, "credit-risk")


# ----------------------------------------------------------------------------- MLflow's signature
def _mlflow_signature(secret: str, delivery: str, stamp: str, body: bytes) -> str:
    """MLflow's own signing function (mlflow/webhooks/delivery.py), so ours is checked against it."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    return _generate_hmac_signature(secret, delivery, stamp, body.decode())


def test_signature_is_the_one_mlflow_sends():
    body = b'{"entity": "model_version_alias", "action": "created", "data": {}}'
    stamp = str(int(time.time()))
    assert sign("s3cret", "d-1", stamp, body) == _mlflow_signature("s3cret", "d-1", stamp, body)
    headers = {
        "x-mlflow-signature": _mlflow_signature("s3cret", "d-1", stamp, body),
        "x-mlflow-delivery-id": "d-1",
        "x-mlflow-timestamp": stamp,
    }
    assert verify("s3cret", headers, body, max_age=300) == "d-1"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"x-mlflow-signature": "v1,AAAA"}, "does not match"),
        ({"x-mlflow-delivery-id": "d-2"}, "does not match"),  # signed content includes the id
        ({"x-mlflow-timestamp": str(int(time.time()) - 3600)}, "away from now"),
        ({"x-mlflow-signature": ""}, "missing"),
    ],
)
def test_bad_or_stale_signatures_are_refused(change, complaint):
    body = b'{"a": 1}'
    stamp = str(int(time.time()))
    headers = {"x-mlflow-signature": sign("s3cret", "d-1", stamp, body), "x-mlflow-delivery-id": "d-1"}
    headers["x-mlflow-timestamp"] = stamp
    headers.update(change)
    with pytest.raises(BadSignature, match=complaint):
        verify("s3cret", headers, body, max_age=300)
    with pytest.raises(BadSignature):
        verify("other-secret", {**headers, **{"x-mlflow-timestamp": stamp}}, body, max_age=300)


# ----------------------------------------------------------------------------- event table
def _event(kind: str, **data: str) -> dict[str, object]:
    entity, action = kind.split(".")
    return {"entity": entity, "action": action, "data": {"name": "credit-risk", **data}}


@pytest.mark.parametrize(
    ("event", "previous", "step"),
    [
        (_event("model_version_alias.created", alias="challenger", version="4"), None, Step.SHADOW),
        (_event("model_version_alias.created", alias="champion", version="4"), "3", Step.CHAMPION),
        (_event("model_version_alias.created", alias="champion", version="3"), "3", Step.ROLLBACK),
        (_event("model_version_alias.created", alias="previous-champion", version="3"), None, None),
        (_event("model_version_alias.deleted", alias="challenger"), None, None),
        (_event("model_version.created", version="5"), None, None),
        (
            {**_event("model_version_alias.created", alias="challenger", version="4"), "data": {"name": "x"}},
            None,
            None,
        ),
    ],
)
def test_event_to_step(event, previous, step):
    call = step_for(event, "credit-risk", previous)
    assert call.step == step
    assert call.why


# ----------------------------------------------------------------------------- git plumbing
def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def test_commit_on_branch_leaves_the_checkout_alone(tmp_path: Path):
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("one\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "init")
    repo = GitRepo.open(tmp_path, "bot", "bot@x")
    assert repo.dirty() == []
    sha = repo.commit_on_branch(
        "main", "promote/x", {Path("a.txt"): "two\n", Path("d/b.txt"): "b\n"}, "msg\n"
    )
    assert repo.read("promote/x", Path("a.txt")) == "two\n"
    assert repo.read("promote/x", Path("d/b.txt")) == "b\n"
    assert repo.read("main", Path("d/b.txt")) is None
    assert (tmp_path / "a.txt").read_text() == "one\n", "the work tree is untouched"
    assert repo.dirty() == []
    assert repo.current_branch() == "main"
    assert repo.has_branch("promote/x")
    assert _git(tmp_path, "rev-parse", "promote/x").strip() == sha
    from promotion.git import GitError

    with pytest.raises(GitError):  # promotion branches are never moved
        repo.commit_on_branch("main", "promote/x", {Path("a.txt"): "three\n"}, "again\n")

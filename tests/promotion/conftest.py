"""Fixtures of the promotion tests: two trained versions, a GitOps repository with a bare
remote, an inference log with shadow and split records, the CLI as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inference_log import ApplicantHasher, InferenceRecord, Role
from promotion.evidence import FAIRNESS_GATE_TAG, MODEL_CARD_ARTIFACT
from promotion.values_file import PinnedState, render_state
from tests.monitoring.conftest import write_log
from tests.monitoring.population import applications_at_time, request_ids_of, traffic_records
from tests.servers import require_binary

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "credit-scoring"
VALUES = Path("manifests/gitops/values/credit-scoring.yaml")


@dataclass
class Trained:
    run_id: str
    source: str
    booster: Any
    policy: Any


@dataclass
class Versions:
    """The session champion's run and one more trained run (another seed): two real models."""

    credit_env: Any
    champion: Trained
    challenger: Trained
    population: Any
    hasher: ApplicantHasher = field(default_factory=lambda: ApplicantHasher(b"promotion-tests-key-0123"))

    @property
    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(self.credit_env.tracking_uri)

    def fresh_model(self, name: str, fairness: tuple[str | None, str | None] = ("passed", "passed")) -> None:
        """Register ``name`` with version 1 (champion's run) and 2 (challenger's run), governance
        tags as the registration gate would set them (None: no verdict), @champion 1, @challenger 2."""
        client = self.client
        client.create_registered_model(name)
        for trained, verdict in zip((self.champion, self.challenger), fairness, strict=True):
            mv = client.create_model_version(
                name, trained.source, run_id=trained.run_id, model_id=trained.source.removeprefix("models:/")
            )
            if verdict is not None:
                client.set_model_version_tag(
                    name, mv.version, FAIRNESS_GATE_TAG, json.dumps({"status": verdict})
                )
        client.set_registered_model_alias(name, "champion", "1")
        client.set_registered_model_alias(name, "challenger", "2")

    def records(
        self, model_name: str, n: int, seed: int, *, pairs: bool, split: bool
    ) -> list[InferenceRecord]:
        """Shadow pairs (both versions on the same rows) and/or split records (one side each)."""
        now = datetime.now(UTC)
        common = {"hasher": self.hasher, "start": now - timedelta(hours=20), "end": now - timedelta(hours=1)}
        out: list[InferenceRecord] = []
        if pairs:
            champion = traffic_records(
                self.population, n, booster=self.champion.booster, policy=self.champion.policy,
                model_name=model_name, model_version="1", seed=seed, **common,
            )  # fmt: skip
            out += champion + traffic_records(
                self.population, n, booster=self.challenger.booster, policy=self.challenger.policy,
                model_name=model_name, model_version="2", seed=seed, role=Role.CHALLENGER,
                request_ids=request_ids_of(champion), **common,
            )  # fmt: skip
        if split:
            out += traffic_records(
                self.population, n, booster=self.champion.booster, policy=self.champion.policy,
                model_name=model_name, model_version="1", seed=seed + 1, **common,
            )  # fmt: skip
            out += traffic_records(
                self.population, n, booster=self.challenger.booster, policy=self.challenger.policy,
                model_name=model_name, model_version="2", seed=seed + 2, role=Role.CHALLENGER, **common,
            )  # fmt: skip
        return out


def _ensure_model_card(client: Any, run_id: str, version_label: str) -> None:
    """A model card on the run unless one is there (issue #12's registration writes the real one)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    try:
        listed = {a.path for a in client.list_artifacts(run_id, "model_card")}
    except MlflowException:
        listed = set()
    if MODEL_CARD_ARTIFACT in listed:
        return
    with tempfile.TemporaryDirectory() as tmp:
        card = Path(tmp) / "model_card.md"
        card.write_text(
            f"# Model card: credit-risk ({version_label})\n\nIntended use: consumer credit decisions.\n"
        )
        client.log_artifact(run_id, str(card), artifact_path="model_card")


@pytest.fixture(scope="session")
def versions(credit_env: Any) -> Versions:
    import mlflow
    import mlflow.xgboost

    previous = mlflow.get_tracking_uri()
    trained = credit_env.train_new_version(model_name="credit-risk-promotion-challenger", seed=7)
    mlflow.set_tracking_uri(previous)
    champion_mv = credit_env.training.registered
    out = []
    for registered, policy in (
        (champion_mv, credit_env.training.policy),
        (trained.registered, trained.policy),
    ):
        booster = mlflow.xgboost.load_model(registered.model_uri)
        out.append(Trained(registered.run_id, registered.model_uri, booster, policy))
    client = mlflow.MlflowClient(credit_env.tracking_uri)
    for t, label in zip(out, ("champion run", "challenger run"), strict=True):
        # create_model_version takes the version's source (the logged model), not models:/name/version.
        name, number = t.source.removeprefix("models:/").split("/")
        t.source = client.get_model_version(name, number).source
        _ensure_model_card(client, t.run_id, label)
    population = applications_at_time(credit_env.profile, credit_env.applications)
    return Versions(credit_env, out[0], out[1], population)


# --------------------------------------------------------------------------- GitOps repository
def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


@dataclass
class GitOps:
    remote: Path  # a bare repository: what a Git server holds
    clone: Path  # the operator's work tree

    def remote_branches(self) -> set[str]:
        out = git(self.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return set(out.split())

    def show(self, ref: str, path: Path = VALUES) -> str:
        return git(self.remote, "show", f"{ref}:{path.as_posix()}")

    def merge(self, branch: str) -> None:
        """What a reviewer's merge does: main moves to the promotion branch (fast-forward)."""
        git(self.remote, "update-ref", "refs/heads/main", git(self.remote, "rev-parse", branch).strip())
        git(self.clone, "pull", "--quiet", "--ff-only", "origin", "main")


def make_gitops(base: Path, model_name: str) -> GitOps:
    remote, clone = base / "remote.git", base / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
    git(clone, "config", "user.name", "Operator")
    git(clone, "config", "user.email", "operator@example.com")
    git(clone, "checkout", "-q", "-b", "main")
    (clone / VALUES).parent.mkdir(parents=True)
    (clone / VALUES).write_text(render_state(PinnedState(model_name, "1")))
    git(clone, "add", ".")
    git(clone, "commit", "-qm", "production pins: champion v1")
    git(clone, "push", "-q", "origin", "main")
    return GitOps(remote, clone)


# --------------------------------------------------------------------------- the command line
@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [require_binary("credit-scoring"), *args],
            env={**os.environ, **self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def json(self, *args: str, expect: int = 0, **env: str) -> dict[str, Any]:
        result = self(*args, "--json", **env)
        assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-3000:]
        return json.loads(result.stdout)  # type: ignore[no-any-return]


def cli_env(credit_env: Any, model_name: str, log_url: str, home: Path) -> dict[str, str]:
    return {
        **credit_env.mlflow.env(),
        "PYTHONPATH": str(ROOT),
        "CREDIT_HOME": str(home),
        "CREDIT_MODEL_NAME": model_name,
        "CREDIT_INFERENCE_LOG_URL": log_url,
        "CREDIT_PROMOTION_REMOTE": "origin",
        "CREDIT_PROMOTION_BASE_BRANCH": "main",
        # Two seeds of the same model on the same data: gates with room for that, so the test
        # fails for a broken promotion, not for a retrained model moving a little.
        "CREDIT_PROMOTION_MAX_AUC_DROP": "0.05",
        "CREDIT_PROMOTION_MAX_BRIER_RISE": "0.02",
        "CREDIT_PROMOTION_MIN_VOLUME": "500",
        "CREDIT_PROMOTION_MIN_AGREEMENT": "0.6",
        "CREDIT_PROMOTION_MAX_APPROVAL_RATE_CHANGE": "0.2",
        "CREDIT_PROMOTION_MAX_SCORE_PSI": "1.0",
        "CREDIT_PROMOTION_LIVE_WINDOW": "2m",
        "CREDIT_PROMOTION_MIN_LIVE_CALLS": "50",
    }


@pytest.fixture
def unique_model() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def log_database(postgres_server: Any) -> str:
    return str(postgres_server.url(postgres_server.create_database()))


def write_records(url: str, tmp: Path, records: list[InferenceRecord]) -> None:
    write_log(url, tmp / f"spill-{uuid.uuid4().hex[:6]}", records)


__all__ = ["CHART", "VALUES", "Cli", "GitOps", "Versions", "cli_env", "git", "make_gitops", "write_records"]

"""The champion-challenger cycle end to end, as an operator runs it: a real ``mlflow server``
(PostgreSQL, S3), a real bare Git remote, the inference log in PostgreSQL, Prometheus for the
live gates, the CLI as a subprocess. After each step the rendered chart (``helm template`` with
the GitOps values), the aliases and the commit hold what they should; a refused step changes
nothing; every step run twice changes nothing the second time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.rendering import helm
from tests.promotion.conftest import CHART, VALUES, Cli, GitOps, cli_env, git, make_gitops, write_records

pytestmark = pytest.mark.slow


def rendered(gitops: GitOps, ref: str) -> list[dict[str, Any]]:
    """The chart as Argo CD renders it from ``ref``: prod-like values, then the pins."""
    values = gitops.clone / "pins.yaml"
    values.write_text(gitops.show(ref))
    try:
        text = helm(
            "template", "credit-scoring", str(CHART), "--namespace", "credit-scoring",
            "--values", str(CHART / "ci" / "prod-like-values.yaml"), "--values", str(values),
        )  # fmt: skip
    finally:
        values.unlink()
    return [d for d in yaml.safe_load_all(text) if d]


def serving(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the rendered release serves: champion URI, challenger URI (or None), router env."""
    isvcs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "InferenceService"}

    def env(container: dict[str, Any]) -> dict[str, str]:
        return {e["name"]: e.get("value") for e in container["env"]}

    main = isvcs["credit-scoring"]
    challenger = isvcs.get("credit-scoring-challenger")
    transformer = env(main["spec"]["transformer"]["containers"][0])
    return {
        "champion": env(main["spec"]["predictor"]["containers"][0])["CREDIT_MODEL_URI"],
        "challenger": env(challenger["spec"]["predictor"]["containers"][0])["CREDIT_MODEL_URI"]
        if challenger
        else None,
        "mode": transformer["CREDIT_CHALLENGER_MODE"],
        "percent": transformer.get("CREDIT_CHALLENGER_PERCENT"),
        "shadow_host": transformer.get("CREDIT_SHADOW_PREDICTOR_HOST"),
    }


class InProcess:
    """The same step without a new interpreter: for the checks around the CLI's own runs (a
    process start imports MLflow, seconds on a loaded machine). Same settings as the CLI's env."""

    def __init__(self, cli: Cli, name: str) -> None:
        import sqlalchemy as sa
        from mlflow import MlflowClient

        from inference_log import create_log_engine
        from promotion.evidence import Registry
        from promotion.git import GitRepo
        from promotion.settings import PromotionSettings

        env = cli.env
        prefix = "CREDIT_PROMOTION_"
        options = {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
        self.settings = PromotionSettings(model_name=name, **options)
        self.registry = Registry(MlflowClient(env["MLFLOW_TRACKING_URI"]), name)
        self.repo = GitRepo.open(cli.cwd, "t", "t@x")
        self.engine: sa.Engine = create_log_engine(env["CREDIT_INFERENCE_LOG_URL"])

    def __call__(self, step: str, expect: int = 0, **request: Any) -> dict[str, Any]:
        from promotion.steps import PromotionRequest, Step, promote

        result = promote(
            PromotionRequest(Step(step), **request), self.settings, self.registry, self.repo, self.engine
        )
        assert result.exit_code == expect, result.reason
        return result.as_dict()


def no_challenger(name: str, champion: str) -> dict[str, Any]:
    return {
        "champion": f"models:/{name}/{champion}",
        "challenger": None,
        "mode": "off",
        "percent": None,
        "shadow_host": None,
    }


def aliases(client: Any, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def push_live_series(pushgateway: str, job: str, scale: int) -> None:
    """Predictor and transformer series as the platform exports them (counters at ``scale``)."""
    lines = []
    for role, calls, failures, dependency in (
        ("champion", 20 * scale, scale // 10, "predictor"),
        ("challenger", 8 * scale, scale // 20, "shadow_predictor"),
    ):
        base = f'component="predictor",role="{role}"'
        lines.append(f"request_predict_seconds_count{{{base}}} {calls}")
        for le, share in (("0.005", 0.5), ("0.01", 0.9), ("0.025", 0.995), ("0.05", 1.0), ("+Inf", 1.0)):
            lines.append(f'request_predict_seconds_bucket{{{base},le="{le}"}} {int(calls * share)}')
        lines.append(f'credit_dependency_failures_total{{dependency="{dependency}"}} {failures}')
    for version in ("1", "2"):
        for le, share in (("500", 0.2), ("550", 0.5), ("600", 0.8), ("650", 0.95), ("+Inf", 1.0)):
            lines.append(
                f'credit_score_bucket{{model_version="{version}",le="{le}"}} {int(100 * scale * share)}'
            )
    response = httpx.put(f"{pushgateway}/metrics/job/{job}", content="\n".join(lines) + "\n", timeout=10)
    assert response.status_code == 200, response.text


def live_prometheus(pushgateway: Any, prometheus_factory: Any, job: str) -> str:
    prom = prometheus_factory(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{pushgateway.port}']}}]\n"
    )
    query = f"{prom.url}/api/v1/query"

    def value(expr: str) -> float:
        result = httpx.get(query, params={"query": expr}, timeout=10).json()["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    # Counters that grow between scrapes, the first value scraped before the next push, so
    # increase() sees traffic.
    push_live_series(pushgateway.url, job, 10)
    deadline = time.monotonic() + 60
    while value(f'request_predict_seconds_count{{job="{job}",role="challenger"}}') == 0:
        assert time.monotonic() < deadline, "Prometheus never scraped the Pushgateway"
        time.sleep(0.5)
    for scale in (20, 40):
        time.sleep(2.5)
        push_live_series(pushgateway.url, job, scale)
    grown = f'sum(increase(request_predict_seconds_count{{job="{job}",role="challenger"}}[2m]))'
    while value(grown) == 0:
        assert time.monotonic() < deadline, "Prometheus never saw the challenger's calls grow"
        time.sleep(0.5)
    return str(prom.url)


@pytest.mark.timeout(1500)  # five CLI runs, two trainings' worth of records, a Prometheus
def test_full_cycle(versions, log_database, tmp_path: Path, unique_model, pushgateway, prometheus_factory):
    name = unique_model("credit-risk-cycle")
    versions.fresh_model(name)
    client = versions.client
    gitops = make_gitops(tmp_path / "gitops", name)
    cli = Cli(cli_env(versions.credit_env, name, log_database, tmp_path / "home"), gitops.clone)
    step = InProcess(cli, name)
    assert serving(rendered(gitops, "main")) == no_challenger(name, "1")

    # ------------------------------------------------------------------ usage errors: exit 2
    assert cli("promote", "split").returncode == 2  # no --percent
    assert cli("promote", "split", "--percent", "101").returncode == 2
    assert cli("promote", "sideways").returncode == 2

    # ------------------------------------------------------------------ shadow
    shadow = cli.json("promote", "shadow")
    assert shadow["outcome"] == "done", shadow["reason"]
    assert shadow["version"] == "2"
    assert shadow["changed"] is True
    assert {g["name"] for g in shadow["gates"]} == {
        "offline_auc",
        "offline_brier",
        "fairness_gate",
        "model_card",
    }
    assert all(g["passed"] for g in shadow["gates"])
    assert "+  mode: shadow" in shadow["diff"]
    branch = shadow["branch"]
    assert branch in gitops.remote_branches(), "pushed for review"
    assert serving(rendered(gitops, branch)) == {
        "champion": f"models:/{name}/1",
        "challenger": f"models:/{name}/2",
        "mode": "shadow",
        "percent": None,
        "shadow_host": "credit-scoring-challenger-predictor.credit-scoring:80",
    }
    message = git(gitops.remote, "log", "-1", "--format=%B", branch)
    assert "[passed] fairness_gate" in message
    assert "Model card:" in message
    assert "Promotion-Step: shadow" in message
    files = git(gitops.remote, "show", "--name-only", "--format=", branch).split()
    assert f"manifests/gitops/evidence/{name}-v2/model-card.md" in files
    assert aliases(client, name) == {"champion": "1", "challenger": "2"}
    assert gitops.show("main") == (gitops.clone / VALUES).read_text(), "main is untouched until the merge"

    again = step("shadow")
    assert again["outcome"] == "already_proposed"
    assert again["changed"] is False
    gitops.merge(branch)
    assert step("shadow")["outcome"] == "already_done"
    branches = gitops.remote_branches()

    # ------------------------------------------------------------------ a refused step changes nothing
    write_records(log_database, tmp_path, versions.records(name, 200, seed=1, pairs=True, split=False))
    refused = step("split", percent=10, expect=1)
    assert refused["outcome"] == "refused"
    assert "volume" in refused["reason"]
    assert refused["changed"] is False
    assert gitops.remote_branches() == branches
    assert aliases(client, name) == {"champion": "1", "challenger": "2"}
    (gitops.clone / "notes.txt").write_text("uncommitted\n")
    dirty = step("split", percent=10, expect=1)
    assert "uncommitted changes" in dirty["reason"]
    (gitops.clone / "notes.txt").unlink()

    # ------------------------------------------------------------------ compare
    write_records(log_database, tmp_path, versions.records(name, 400, seed=2, pairs=True, split=False))
    html = tmp_path / "comparison.html"
    report = cli.json("compare", "--html", str(html))
    comparison = report["comparison"]
    assert comparison["mode"] == "shadow"
    assert comparison["shadow"]["pairs"] == 600
    assert 0.6 <= comparison["shadow"]["decision_agreement"] <= 1.0
    assert comparison["shadow"]["swap_in"] + comparison["shadow"]["swap_out"] <= 600
    assert report["champion"]["metrics"]["auc"] > 0.7
    assert report["challenger"]["fairness"]["age_band"], "the training run's fairness audit"
    assert report["realised_performance"]["status"] == "no_outcomes"
    assert html.read_text().count('class="js-plotly-plot"') >= 1 or "Plotly.newPlot" in html.read_text()
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.metrics["shadow_pairs"] == 600
    assert {a.path for a in client.list_artifacts(run.info.run_id, "comparison")} == {
        "comparison/comparison.json", "comparison/comparison.html",
    }  # fmt: skip

    # ------------------------------------------------------------------ split 10%
    split = cli.json("promote", "split", "--percent", "10")
    assert split["outcome"] == "done", split["reason"]
    gates = {g["name"]: g for g in split["gates"]}
    assert gates["volume"]["value"] == 600
    assert gates["decision_agreement"]["passed"]
    assert any(line.startswith("shadow pairs 600") for line in split["comparison"])
    assert serving(rendered(gitops, split["branch"])) == {
        "champion": f"models:/{name}/1",
        "challenger": f"models:/{name}/2",
        "mode": "split",
        "percent": "10",
        "shadow_host": None,
    }
    assert "shadow pairs 600" in git(gitops.remote, "log", "-1", "--format=%B", split["branch"])
    gitops.merge(split["branch"])
    write_records(log_database, tmp_path, versions.records(name, 300, seed=3, pairs=False, split=True))

    # ------------------------------------------------------------------ champion
    missing = step("champion", expect=1)
    assert "live_metrics" in missing["reason"], "no --prometheus: live evidence is missing, not passed"
    assert aliases(client, name) == {"champion": "1", "challenger": "2"}
    prometheus = live_prometheus(pushgateway, prometheus_factory, f"promotion-live-{name}")
    champion = cli.json("promote", "champion", "--prometheus", prometheus)
    assert champion["outcome"] == "done", champion["reason"]
    live = {g["name"]: g for g in champion["gates"] if g["name"].startswith("live_")}
    assert set(live) == {"live_volume", "live_error_rate", "live_p99", "live_score_psi"}
    assert all(g["passed"] for g in live.values()), live
    assert {g["name"]: g for g in champion["gates"]}["volume"]["value"] == 600 + 300
    assert aliases(client, name) == {"champion": "2", "previous-champion": "1"}
    assert serving(rendered(gitops, champion["branch"])) == no_challenger(name, "2")
    gitops.merge(champion["branch"])

    # ------------------------------------------------------------------ rollback
    rollback = cli.json("promote", "rollback")
    assert rollback["outcome"] == "done", rollback["reason"]
    assert rollback["version"] == "1"
    assert aliases(client, name) == {"champion": "1", "previous-champion": "1"}
    assert serving(rendered(gitops, rollback["branch"]))["champion"] == f"models:/{name}/1"
    gitops.merge(rollback["branch"])
    assert step("rollback")["outcome"] == "already_done"
    final = rendered(gitops, "main")
    assert serving(final)["champion"] == f"models:/{name}/1"
    assert serving(final)["challenger"] is None

    # ------------------------------------------------------------------ dry run: the diff, no change
    before = gitops.remote_branches()
    dry = cli.json("promote", "shadow", "--version", "2", "--dry-run")  # the CLI's --dry-run
    assert dry["outcome"] == "would_do"
    assert "+  mode: shadow" in dry["diff"]
    assert dry["changed"] is False
    assert gitops.remote_branches() == before
    assert aliases(client, name) == {"champion": "1", "previous-champion": "1"}


@pytest.mark.parametrize(
    ("verdict", "complaint"), [(None, "[missing] fairness_gate"), ("failed", "[failed] fairness_gate")]
)
def test_a_version_without_a_passing_fairness_verdict_is_refused(
    versions, tmp_path, unique_model, verdict, complaint
):
    """In process (the CLI path is the cycle above): the refusal names the gate, nothing moves."""
    from promotion.evidence import Registry
    from promotion.git import GitRepo
    from promotion.settings import PromotionSettings
    from promotion.steps import Outcome, PromotionRequest, Step, promote

    name = unique_model("credit-risk-fairness")
    versions.fresh_model(name, fairness=("passed", verdict))
    gitops = make_gitops(tmp_path / "gitops", name)
    settings = PromotionSettings(model_name=name, remote="origin", base_branch="main")
    repo = GitRepo.open(gitops.clone, "t", "t@x")
    result = promote(PromotionRequest(Step.SHADOW), settings, Registry(versions.client, name), repo, None)
    assert result.outcome is Outcome.REFUSED
    assert result.exit_code == 1
    assert complaint in result.reason
    assert {g.name: g.passed for g in result.gates}["fairness_gate"] is False
    assert result.changed is False
    assert gitops.remote_branches() == {"main"}
    assert aliases(versions.client, name) == {"champion": "1", "challenger": "2"}

"""What schemas cannot see, per scenario, in the cluster it lands in (chart + install manifests +
the stores overlay + what KServe, Knative and the Knative operator derive): references resolve,
monitors find their ports, PDBs let nodes drain, no two objects collide, and the arguments KServe
adds to our containers are accepted by the servers' own parsers. Every check is also shown to fail
on a planted mistake."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
import yaml

from tests.deploy.cluster_model import ClusterView, transformer_args, view
from tests.deploy.rendering import CHART, LAYERED, ROOT, SCENARIOS, kustomize, render_scenario, render_sources
from tests.deploy.semantics import (
    duplicate_objects,
    monitor_problems,
    pdb_problems,
    policy_target_problems,
    route_problems,
)

TARGETS = [(s,) for s in SCENARIOS] + list(LAYERED)
CHECKS = {
    "duplicates": duplicate_objects,
    "routes": route_problems,
    "policies": policy_target_problems,
    "monitors": monitor_problems,
    "pdbs": pdb_problems,
}


def _install(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ROOT / "manifests/install" / name).read_text()) if d]


@cache
def cluster(target: tuple[str, ...]) -> ClusterView:
    """The cluster a scenario lands in: the GitOps path for prod-like (manifests/gitops deploys it
    with the prod overlay), scripts/install-platform.sh + the kind overlay for the others."""
    docs = render_scenario(*target)
    knative = any(
        d["kind"] == "InferenceService"
        and d["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
        for d in docs
    )
    platform = _install("gateway.yaml") + (_install("knative-serving.yaml") if knative else [])
    stores = kustomize("prod" if target == ("prod-like",) else "kind")
    return view(platform, stores, docs)


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("target", TARGETS, ids="+".join)
def test_no_semantic_errors(target, check):
    assert CHECKS[check](cluster(target)) == []


def test_overlays_alone_have_no_semantic_errors():
    for overlay in ("kind", "prod"):
        cv = view(kustomize(overlay))
        assert pdb_problems(cv) == duplicate_objects(cv) == []


# ----------------------------------------------------------------------------- the checks can fail
def _planted(target: tuple[str, ...], mutate: Any) -> ClusterView:
    docs = copy.deepcopy(list(render_scenario(*target)))
    mutate(docs)
    return view(_install("gateway.yaml"), kustomize("kind"), docs)


def _first(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


def test_route_to_a_missing_listener_is_found():
    """prod-like attaches to listener "https"; a Gateway without it (the bug before) is reported."""
    docs = list(render_scenario("prod-like"))
    gateway_without_https = _install("gateway.yaml")
    for doc in gateway_without_https:
        if doc["kind"] == "Gateway":
            doc["spec"]["listeners"] = [lst for lst in doc["spec"]["listeners"] if lst["name"] != "https"]
    problems = route_problems(view(gateway_without_https, kustomize("prod"), docs))
    assert any("has no listener 'https'" in p for p in problems), problems


def test_backend_in_a_namespace_without_the_service_is_found():
    """The Knative routes once pointed at kourier-system; the operator runs Kourier in knative-serving."""

    def old_namespace(docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            if doc["kind"] == "HTTPRoute":
                for rule in doc["spec"]["rules"]:
                    rule["backendRefs"][0]["namespace"] = "kourier-system"

    docs = copy.deepcopy(list(render_scenario("knative")))
    old_namespace(docs)
    problems = route_problems(view(_install("gateway.yaml"), _install("knative-serving.yaml"), docs))
    assert any("backend Service kourier-system/kourier-internal does not exist" in p for p in problems)


def test_podmonitor_port_renamed_by_knative_is_found():
    def http1(docs: list[dict[str, Any]]) -> None:
        _first(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]["port"] = "http1"

    problems = monitor_problems(_planted(("knative",), http1))
    assert any("port 'http1' is not a port of InferenceService" in p and "user-port" in p for p in problems)


def test_servicemonitor_port_missing_is_found():
    def wrong_port(docs: list[dict[str, Any]]) -> None:
        _first(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] = "metrics"

    assert any("has no port 'metrics'" in p for p in monitor_problems(_planted(("kind",), wrong_port)))


def test_pdb_that_blocks_drains_is_found():
    def knative_pdb(docs: list[dict[str, Any]]) -> None:
        pdbs = [d for d in render_scenario("prod-like") if d["kind"] == "PodDisruptionBudget"]
        for pdb in copy.deepcopy(pdbs):
            pdb["spec"]["minAvailable"] = 1
            docs.append(pdb)

    problems = pdb_problems(_planted(("knative",), knative_pdb))
    assert any("minAvailable 1 with 1 pod(s) at minimum blocks node drains" in p for p in problems)


def test_shadow_and_a_kserve_canary_with_one_name_collide():
    """Why the chart has no KServe canary beside its challenger: a canary predictor named
    challenger (what the removed rollout.* rendered) and the challenger InferenceService would
    make the controllers create the same objects."""

    def add_canary(docs: list[dict[str, Any]]) -> None:
        main = next(d for d in docs if d["kind"] == "InferenceService" and "transformer" in d["spec"])
        predictor = {**copy.deepcopy(main["spec"]["predictor"]), "name": "challenger"}
        main["spec"]["canary"] = [{"trafficPercent": 10, "predictor": predictor}]

    problems = duplicate_objects(_planted(("shadow",), add_canary))
    assert any("credit-scoring-challenger-predictor" in p for p in problems), problems


# ----------------------------------------------------------------------------- KServe's arguments
def _servers() -> dict[str, Any]:
    """The servers' own parsers and option builders, through each component's server module."""
    from predictor import server as predictor_server
    from transformer import server as transformer_server

    return {"transformer": transformer_server, "predictor": predictor_server}


def _accepts(component: str, args: list[str]) -> None:
    """Parse as the container would: ``configure`` is what ``main()`` runs first (flags, settings,
    options; --workers is enforced there)."""
    _servers()[component].configure(args)


def _final_args(isvc: dict[str, Any], component: str) -> list[str]:
    if component == "transformer":
        return transformer_args(isvc)
    return [str(a) for a in isvc["spec"]["predictor"]["containers"][0]["args"]]  # used as written


@pytest.mark.parametrize("target", TARGETS, ids="+".join)
def test_servers_accept_the_arguments_kserve_runs_them_with(target):
    seen = 0
    for isvc in (d for d in render_scenario(*target) if d["kind"] == "InferenceService"):
        for component in ("transformer", "predictor"):
            if component in isvc["spec"]:
                _accepts(component, _final_args(isvc, component))
                seen += 1
        for canary in isvc["spec"].get("canary", []):
            _accepts("predictor", [str(a) for a in canary["predictor"]["containers"][0]["args"]])
    assert seen >= 2


def test_kserve_appends_workers_from_container_concurrency_without_an_explicit_flag():
    """What the knative scenario ran before: KServe adds --workers 64, the server exits."""
    isvc = copy.deepcopy(next(d for d in render_scenario("knative") if d["kind"] == "InferenceService"))
    args = isvc["spec"]["transformer"]["containers"][0]["args"]
    i = args.index("--workers")
    del args[i : i + 2]
    final = transformer_args(isvc)
    assert final[-2:] == ["--workers", "64"]
    with pytest.raises(SystemExit, match="--workers must be 1"):
        _accepts("transformer", final)


def test_kserve_keeps_our_values_for_flags_we_set():
    isvc = next(d for d in render_scenario("kind") if d["kind"] == "InferenceService")
    args = transformer_args(isvc)
    assert args == [str(a) for a in isvc["spec"]["transformer"]["containers"][0]["args"]]


# ----------------------------------------------------------------------------- coverage of the templates
def test_every_template_renders_in_some_scenario():
    """So the validation above covers it: a template no scenario renders is checked by nothing."""
    templates = {f"templates/{p.name}" for p in (CHART / "templates").glob("*.yaml")}
    rendered = {source for s in SCENARIOS for source, _ in render_sources(s)}
    assert templates - rendered == set()


def _switches(values: Any, path: str = "") -> dict[str, bool]:
    found = {}
    if isinstance(values, dict):
        for key, value in values.items():
            sub = f"{path}.{key}" if path else key
            if key == "enabled" and isinstance(value, bool):
                found[path] = value
            else:
                found.update(_switches(value, sub))
    return found


def _setting(values: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


def test_every_switch_is_on_in_some_scenario():
    """Default-off parts (the promotion hook, batch ...) are validated only if a scenario turns them on."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    scenarios = [yaml.safe_load((CHART / "ci" / f"{s}-values.yaml").read_text()) for s in SCENARIOS]
    assert {s for s, on in _switches(defaults).items() if not on} >= {"promotionHook"}
    for switch, default in _switches(defaults).items():
        settings = [_setting(values, f"{switch}.enabled") for values in scenarios]
        assert any(default if s is None else s for s in settings), f"no scenario sets {switch}.enabled"
    for key, choices in (
        ("serving.deploymentMode", {"Standard", "Knative"}),
        ("gateway.auth.type", {"apiKey", "jwt"}),
        ("challenger.mode", {"off", "shadow", "split"}),
    ):
        seen = {_setting(values, key) or _setting(defaults, key) for values in scenarios}
        assert seen == choices, key

"""Every object we apply validates against the schema the API server would use: Kubernetes' own for
core kinds, the vendored upstream CRDs (structural schema + CEL rules) for custom resources, and
KServe's SDK models on top for InferenceServices. The validators are shown to reject mistakes."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.crd_schema import CRDS, registry
from tests.deploy.kserve_strict import validate_inference_service
from tests.deploy.manifests_check import (
    CORE_GROUPS,
    KUBERNETES_VERSIONS,
    group_of,
    object_errors,
    validator_of,
)
from tests.deploy.rendering import LAYERED, OVERLAYS, ROOT, SCENARIOS, kustomize, render_scenario

EXPECTED_OVERLAYS = ("kind", "prod")
TARGETS = [(s,) for s in SCENARIOS] + list(LAYERED)


def _manifest_files(folder: str) -> list[Path]:
    return sorted(
        p
        for p in (ROOT / "manifests" / folder).rglob("*.yaml")
        if not p.name.endswith("-values.yaml")
        and p.name != "kustomization.yaml"
        and p.parent.name != "values"  # manifests/gitops/values/: Helm values (the model pins)
    )


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("target", TARGETS, ids="+".join)
def test_every_rendered_object_validates_strictly(target):
    errors = [e for obj in render_scenario(*target) for e in object_errors(obj)]
    assert errors == []


def test_every_scenario_uses_core_kserve_and_crd_schemas():
    used = {validator_of(obj) for s in SCENARIOS for obj in render_scenario(s)}
    assert used == {"kubernetes", "kserve", "crd"}


@pytest.mark.parametrize("overlay", EXPECTED_OVERLAYS)
def test_kustomize_overlay_renders_and_validates(overlay):
    docs = kustomize(overlay)
    assert {"Deployment", "Service", "StatefulSet"} <= {d["kind"] for d in docs}
    assert [e for obj in docs for e in object_errors(obj)] == []
    for obj in docs:  # applied with `kubectl apply -k` or by Argo CD: nothing may land in "default"
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "credit-data", (
                f"{obj['kind']}/{obj['metadata']['name']}"
            )


def test_overlays_exist():
    assert set(OVERLAYS) == set(EXPECTED_OVERLAYS)


@pytest.mark.parametrize("folder", ["gitops", "install"])
def test_gitops_and_install_manifests_validate(folder):
    files = _manifest_files(folder)
    assert files
    errors = [f"{p.relative_to(ROOT)}: {e}" for p in files for obj in _docs(p) for e in object_errors(obj)]
    assert errors == []


def test_install_values_files_are_helm_values_not_objects():
    for path in sorted((ROOT / "manifests/install").glob("*-values.yaml")):
        (doc,) = _docs(path)
        assert "apiVersion" not in doc, path


# ----------------------------------------------------------------------------- vendored CRDs
def _versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / "manifests/install/versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {k: v.strip() for k, v in pairs}


def test_vendored_crds_are_the_pinned_releases_unedited():
    sources = yaml.safe_load((CRDS / "SOURCES.yaml").read_text())["crds"]
    pinned = _versions()
    files = {p.name for p in CRDS.glob("*.yaml")} - {"SOURCES.yaml"}
    assert {s["file"] for s in sources} == files
    for source in sources:
        key, _, version = source["pinned"].partition("=")
        assert pinned[key] == version, (
            f"{source['file']}: vendored for {source['pinned']}, pinned {pinned[key]}"
        )
        assert version in source["tag"], source
        body = (CRDS / source["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == source["sha256"], f"{source['file']} was edited by hand"
        if source["ref"] != source["tag"]:
            assert source.get("note"), (
                f"{source['file']}: read {source['ref']} instead of {source['tag']} without a note"
            )


def test_every_custom_kind_we_apply_has_a_vendored_crd():
    objects = [o for s in SCENARIOS for o in render_scenario(s)]
    objects += [o for f in ("gitops", "install") for p in _manifest_files(f) for o in _docs(p)]
    custom = {(o["apiVersion"], o["kind"]) for o in objects if group_of(o) not in CORE_GROUPS}
    assert {k for k in custom if k not in registry().versions} == set()


# ----------------------------------------------------------------------------- the validators catch mistakes
def _of(scenario: str, kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in render_scenario(scenario) if d["kind"] == kind))


def _selector_header(policy: dict[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = policy["spec"]["rateLimit"]["global"]["rules"][0]["clientSelectors"][0][
        "headers"
    ][0]
    return header


def _route_rule(r: dict[str, Any]) -> dict[str, Any]:
    return r["spec"]["rules"][0]


@pytest.mark.parametrize(
    ("scenario", "kind", "mutate", "complaint"),
    [
        # unknown fields, at the top and deep down
        (
            "kind",
            "HTTPRoute",
            lambda r: r["spec"]["parentRefs"][0].update(sectoinName="http"),
            r"sectoinName: unknown field",
        ),
        (
            "kind",
            "PodMonitor",
            lambda m: m["spec"]["podMetricsEndpoints"][0].update(intervall="5s"),
            r"intervall: unknown field",
        ),
        (
            "prod-like",
            "SecurityPolicy",
            lambda p: p["spec"]["jwt"]["providers"][0].update(issuerr="x"),
            r"issuerr: unknown field",
        ),
        (
            "kind",
            "InferenceService",
            lambda i: i["spec"]["predictor"].update(minReplica=1),
            r"minReplica: unknown field",
        ),
        # wrong types
        (
            "batch",  # gateway auth off there: the per-replica (local) budget; kind authenticates now
            "BackendTrafficPolicy",
            lambda p: p["spec"]["rateLimit"]["local"]["rules"][0]["limit"].update(requests="200"),
            r"requests: expected integer",
        ),
        (
            "kind",
            "InferenceService",
            lambda i: i["spec"]["predictor"].update(minReplicas="2"),
            r"minReplicas: expected integer",
        ),
        # enums, patterns, required fields
        (
            "kind",
            "HTTPRoute",
            lambda r: _route_rule(r)["matches"][0]["path"].update(type="Regex"),
            r"'Regex' is not one of",
        ),
        (
            "kind",
            "HTTPRoute",
            lambda r: _route_rule(r)["timeouts"].update(request="5 seconds"),
            r"does not match",
        ),
        (
            "kind",
            "HTTPRoute",
            lambda r: r["spec"]["parentRefs"][0].pop("name"),
            r"parentRefs\[0\]\.name: required field",
        ),
        # CEL rules of the CRDs
        (
            "kind",
            "HTTPRoute",
            lambda r: _route_rule(r)["filters"][0]["urlRewrite"].update(
                path={"type": "ReplacePrefixMatch", "replacePrefixMatch": "/x"}
            ),
            r"CEL rule violated: When using URLRewrite filter with path.replacePrefixMatch",
        ),
        (
            "kind",
            "HTTPRoute",
            lambda r: _route_rule(r)["timeouts"].update(backendRequest="1m"),
            r"CEL rule violated: backendRequest timeout",
        ),
        (
            "prod-like",
            "SecurityPolicy",
            lambda p: p["spec"]["targetRefs"][0].update(kind="Service"),
            r"CEL rule violated: this policy can only have a targetRefs",
        ),
        # the per-client (global) rate limit: a selector must select something, a header match
        # type is an enum, and a rule has a limit
        (
            "split",
            "BackendTrafficPolicy",
            lambda p: p["spec"]["rateLimit"]["global"]["rules"][0]["clientSelectors"][0].pop("headers"),
            r"CEL rule violated: at least one of headers, methods, path, sourceCIDR or queryParams",
        ),
        (
            "prod-like",
            "BackendTrafficPolicy",
            lambda p: _selector_header(p).update(type="PerClient"),
            r"'PerClient' is not one of",
        ),
        (
            "split",
            "BackendTrafficPolicy",
            lambda p: p["spec"]["rateLimit"]["global"]["rules"][0].pop("limit"),
            r"rules\[0\]\.limit: required field",
        ),
        # ObjectMeta and scope
        (
            "kind",
            "PodMonitor",
            lambda m: m["metadata"]["labels"].update({"bad key!": "x"}),
            r"invalid key 'bad key!'",
        ),
        (
            "kind",
            "ServiceMonitor",
            lambda m: m["metadata"].update(name="Upper_Case"),
            r"not a DNS-1123 subdomain",
        ),
    ],
)
def test_crd_validator_catches_mistakes(scenario, kind, mutate, complaint):
    obj = _of(scenario, kind)
    assert registry().errors(obj) == []
    mutate(obj)
    errors = registry().errors(obj)
    assert any(re.search(complaint, e) for e in errors), errors


def test_cluster_scoped_kind_takes_no_namespace():
    gateway_class = next(
        d for d in _docs(ROOT / "manifests/install/gateway.yaml") if d["kind"] == "GatewayClass"
    )
    assert registry().errors(gateway_class) == []
    gateway_class["metadata"]["namespace"] = "default"
    assert any("cluster-scoped" in e for e in registry().errors(gateway_class))


def test_a_kind_without_a_vendored_crd_is_an_error():
    route = _of("kind", "HTTPRoute")
    route["apiVersion"] = "gateway.networking.k8s.io/v2"
    assert registry().errors(route) == ["no vendored CRD serves gateway.networking.k8s.io/v2 HTTPRoute"]


def test_defaults_are_applied_before_cel_rules():
    """Gateway API defaults a path match to PathPrefix "/"; a rule relying on that must see it."""
    route = _of("kind", "HTTPRoute")
    rule = _route_rule(route)
    rule["matches"][0].pop("path")
    rule["filters"][0]["urlRewrite"]["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/x"}
    assert registry().errors(route) == []  # valid only because the default path type is PathPrefix


def test_kubernetes_validation_is_strict_here():
    """The core check would catch a misspelled field (it is not a no-op)."""
    (deny,) = [
        d
        for d in render_scenario("kind")
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("deny")
    ]
    bad = copy.deepcopy(deny)
    bad["spec"]["podSelectr"] = bad["spec"].pop("podSelector")
    for version in KUBERNETES_VERSIONS:
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, version, strict=True)
    assert object_errors(bad)


def _inference_services():
    return [d for scenario in SCENARIOS for d in render_scenario(scenario) if d["kind"] == "InferenceService"]


def test_every_inference_service_matches_the_kserve_sdk():
    services = _inference_services()
    assert len(services) >= 7
    for isvc in services:
        assert validate_inference_service(isvc) == [], isvc["metadata"]["name"]


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (
            lambda s: s["spec"]["predictor"]["containers"][0].update(imagePullPolcy="Always"),
            r"containers\[0\]\.imagePullPolcy: unknown field of V1Container",
        ),
        (
            lambda s: s["spec"]["transformer"].update(timeOutSeconds=5),
            r"transformer\.timeOutSeconds: unknown field",
        ),
        (lambda s: s["spec"]["predictor"].update(minReplica=1), r"predictor\.minReplica: unknown field"),
        (
            lambda s: s["spec"]["transformer"]["containers"][0]["readinessProbe"]["httpGet"].update(paht="/"),
            r"httpGet\.paht: unknown field of V1HTTPGetAction",
        ),
        (lambda s: s["spec"]["predictor"].update(minReplicas="2"), r"minReplicas: expected int"),
        (lambda s: s["spec"].pop("predictor"), r"predictor: required field"),
        (
            lambda s: s["spec"]["predictor"]["containers"][0].pop("name"),
            r"name: required field of V1Container",
        ),
        (
            lambda s: s["metadata"].update(annotatons={}),
            r"metadata\.annotatons: unknown field of V1ObjectMeta",
        ),
    ],
)
def test_kserve_validator_catches_mistakes(mutate, complaint):
    (isvc,) = [
        d for d in render_scenario("split") if d["kind"] == "InferenceService" and "transformer" in d["spec"]
    ]
    broken = copy.deepcopy(isvc)
    mutate(broken)
    errors = validate_inference_service(broken)
    assert any(re.search(complaint, e) for e in errors), errors

"""The Argo CD path installs in order and without fights: one owner per CRD, retries while a wave's
CRDs arrive, health that lets waves wait for child applications, OCI chart repositories
registered, and only sources the project allows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.rendering import ROOT

GITOPS = ROOT / "manifests" / "gitops"
HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _all() -> list[dict[str, Any]]:
    # values/ holds Helm values (the model pins Argo CD applies), not Kubernetes objects.
    return [d for p in sorted(GITOPS.rglob("*.yaml")) if p.parent.name != "values" for d in _docs(p)]


def _apps() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _all() if d["kind"] == "Application"}


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app["spec"]
    return [spec["source"]] if "source" in spec else list(spec["sources"])


def test_every_application_retries_and_heals():
    for name, app in _apps().items():
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, name
        retry = policy["retry"]
        assert retry["limit"] >= 5, name
        assert re.fullmatch(r"\d+[sm]", retry["backoff"]["maxDuration"]), name


def test_waves_order_the_platform_before_the_release():
    wave = {
        n: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for n, a in _apps().items()
        if n != "credit-scoring-root"
    }
    assert wave["gateway-api-crds"] == wave["envoy-gateway-crds"] == wave["cert-manager"] == 0
    assert wave["envoy-gateway"] > wave["envoy-gateway-crds"]
    assert wave["platform-gateway"] > wave["envoy-gateway"]
    assert wave["kserve"] > wave["kserve-crd"] > wave["cert-manager"]
    assert wave["credit-scoring"] > max(v for n, v in wave.items() if n != "credit-scoring")


def test_waves_wait_for_child_application_health():
    """Without this customization Argo CD reports a child Application healthy at once (since 1.8)."""
    (cm,) = [d for d in _all() if d["kind"] == "ConfigMap"]
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("argocd-cm", "argocd")
    script = cm["data"][HEALTH_KEY]
    assert "obj.status.health.status" in script
    assert 'status = "Progressing"' in script, "an app with no health yet must hold the wave"
    assert script.rstrip().endswith("return health")


def test_one_owner_per_crd():
    """gateway-api-crds owns the standard Gateway API CRDs and the safe-upgrades policy; Envoy
    Gateway's chart bundles the experimental channel and that policy too, so it is synced without
    its CRDs and with its copy of the policy off; envoy-gateway-crds brings only Envoy's CRDs."""
    apps = _apps()
    (gateway_api,) = _sources(apps["gateway-api-crds"])
    assert gateway_api["path"] == "config/crd/standard"
    (envoy,) = [s for s in _sources(apps["envoy-gateway"]) if "ref" not in s]
    assert envoy["chart"] == "gateway-helm"
    assert envoy["helm"]["skipCrds"] is True
    assert envoy["helm"]["valuesObject"]["crds"]["gatewayAPI"]["safeUpgradePolicy"]["enabled"] is False
    (crds,) = _sources(apps["envoy-gateway-crds"])
    assert crds["chart"] == "gateway-crds-helm"
    assert crds["helm"]["valuesObject"]["crds"] == {
        "gatewayAPI": {"enabled": False},
        "envoyGateway": {"enabled": True},
    }
    charts = [
        (s["repoURL"], s.get("chart"), s.get("path"))
        for a in apps.values()
        for s in _sources(a)
        if "ref" not in s
    ]
    assert len(charts) == len(set(charts)), "two applications install the same chart or path"
    script = (ROOT / "scripts/install-platform.sh").read_text()
    assert "--skip-crds" in script, "the script installs the same way"
    assert "crds.gatewayAPI.enabled=false" in script


def test_oci_chart_repositories_are_registered():
    """Argo CD reads a scheme-less repoURL as an OCI registry only with a repository Secret."""
    secrets = {
        d["stringData"]["url"]: d["stringData"]
        for d in _all()
        if d["kind"] == "Secret" and d["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    }
    oci = {s["repoURL"] for a in _apps().values() for s in _sources(a) if "://" not in s["repoURL"]}
    assert oci == {"docker.io/envoyproxy", "ghcr.io/kserve/charts"}
    for url in oci:
        assert secrets[url]["enableOCI"] == "true", url
        assert secrets[url]["type"] == "helm", url
    for data in secrets.values():
        assert not {"password", "username", "sshPrivateKey", "tlsClientCertKey"} & set(data), (
            "no credentials in Git"
        )


def test_project_allows_every_source_and_the_root_is_the_only_entry():
    (project,) = [d for d in _all() if d["kind"] == "AppProject"]
    allowed = set(project["spec"]["sourceRepos"])
    for name, app in _apps().items():
        assert app["spec"]["project"] == project["metadata"]["name"], name
        for source in _sources(app):
            assert source["repoURL"] in allowed, (name, source["repoURL"])
    root = _apps()["credit-scoring-root"]
    assert _sources(root)[0]["path"] == "manifests/gitops/apps"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ("Progressing", "")),  # just created: the wave must wait
        ({"sync": {"status": "Synced"}}, ("Progressing", "")),  # no health reported yet
        (
            {"health": {"status": "Progressing", "message": "waiting for kserve"}},
            ("Progressing", "waiting for kserve"),
        ),
        ({"health": {"status": "Healthy"}}, ("Healthy", "")),
        ({"health": {"status": "Degraded", "message": "CrashLoopBackOff"}}, ("Degraded", "CrashLoopBackOff")),
    ],
)
def test_application_health_script_runs_in_lua_5_1(status, expected):
    """Argo CD runs resource customizations in gopher-lua (Lua 5.1) with the object as `obj`."""
    from lupa import lua51

    (cm,) = [d for d in _all() if d["kind"] == "ConfigMap"]
    lua = lua51.LuaRuntime()
    check = lua.eval("function(obj) " + cm["data"][HEALTH_KEY] + " end")
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}}
    if status is not None:
        app["status"] = status
    health = check(lua.table_from(app, recursive=True))
    assert (health["status"], health["message"]) == expected

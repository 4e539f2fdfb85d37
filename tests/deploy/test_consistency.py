"""The packaging agrees with itself: skaffold and chart images, kind ports and the docs, pinned
versions across scripts and GitOps, Dockerfiles and the chart's security settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests_check import check_object
from tests.deploy.rendering import CHART, ROOT, render_scenario

DOCS = ROOT / "docs" / "deploy.md"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def _versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / "manifests/install/versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {k: v.strip() for k, v in pairs}


def _images(docs) -> set[str]:
    found = set()
    for doc in docs:
        found |= set(re.findall(r"'image': '([^']+)'", str(doc)))
    return found


def test_skaffold_builds_exactly_the_chart_images():
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    artifacts = {a["image"]: a["docker"]["dockerfile"] for a in skaffold["build"]["artifacts"]}
    serving_images = {VALUES["images"][k] for k in ("predictor", "transformer", "jobs")}
    chart_images = serving_images | {VALUES["batch"]["image"]}
    assert set(artifacts) == chart_images
    for image, dockerfile in artifacts.items():
        assert dockerfile == f"docker/{image.removeprefix('credit-scoring-')}.Dockerfile"
        assert (ROOT / dockerfile).is_file()
    # The kind scenario (what skaffold deploys) runs exactly these images, unprefixed, by tag.
    rendered = {i.rsplit(":", 1)[0] for i in _images(render_scenario("kind"))}
    assert rendered == serving_images
    # The batch objects (off in the kind scenario) run the batch image, unprefixed, by tag.
    rendered = {i.rsplit(":", 1)[0] for i in _images(render_scenario("batch"))}
    assert rendered == chart_images
    release = skaffold["manifests"]["helm"]["releases"][0]
    assert release["chartPath"] == "charts/credit-scoring"
    assert release["valuesFiles"] == ["charts/credit-scoring/ci/kind-values.yaml"]
    for key in ("predictor", "transformer", "jobs"):
        template = release["setValueTemplates"][f"images.{key}"]
        assert template == "{{.IMAGE_REPO_" + VALUES["images"][key].replace("-", "_") + "}}"
    assert release["setValueTemplates"]["batch.image"] == (
        "{{.IMAGE_REPO_" + VALUES["batch"]["image"].replace("-", "_") + "}}"
    )
    for profile in skaffold["profiles"]:
        for patch in profile.get("patches", []):
            assert (ROOT / patch["value"]).is_file(), patch


def test_kind_port_mappings_match_the_docs_and_the_node_ports():
    kind = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    mappings = {
        m["hostPort"]: m["containerPort"] for n in kind["nodes"] for m in n.get("extraPortMappings", [])
    }
    documented = {
        int(host): int(node)
        for host, node in re.findall(
            r"^\| 127\.0\.0\.1:(\d+) \|[^|]+\| NodePort (\d+) \|$", DOCS.read_text(), flags=re.M
        )
    }
    assert mappings == documented
    assert len(mappings) == 3
    assert all(
        m["listenAddress"] == "127.0.0.1" for n in kind["nodes"] for m in n.get("extraPortMappings", [])
    )
    gateway = yaml.safe_load((ROOT / "manifests/install/kind-gateway-nodeport.yaml").read_text())
    (gateway_port,) = gateway["spec"]["provider"]["kubernetes"]["envoyService"]["patch"]["value"]["spec"][
        "ports"
    ]
    prometheus = yaml.safe_load((ROOT / "manifests/install/kube-prometheus-stack-values.yaml").read_text())
    assert mappings[9080] == gateway_port["nodePort"]
    assert mappings[3000] == prometheus["grafana"]["service"]["nodePort"]
    assert mappings[9090] == prometheus["prometheus"]["service"]["nodePort"]
    lib = (ROOT / "scripts/kind-lib.sh").read_text()
    for port, name in ((9080, "GATEWAY_URL"), (3000, "GRAFANA_URL"), (9090, "PROMETHEUS_URL")):
        line = re.search(rf"^{name}=.*$", lib, flags=re.M)
        assert line is not None, name
        assert f"http://127.0.0.1:{port}" in line.group(0)


def test_docs_have_the_two_deploy_sections_and_name_real_files():
    text = DOCS.read_text()
    assert "\n## Deploy on kind\n" in text
    assert "\n## Deploy on a cluster\n" in text
    for target in ("kind-up", "kind-deploy", "kind-e2e", "kind-down"):
        assert f"make {target}" in text
        assert re.search(rf"^{target}: .*## ", (ROOT / "Makefile").read_text(), flags=re.M), target
    for path in set(
        re.findall(
            r"\b((?:charts|manifests|scripts|docker|tests|examples)/[\w./-]+\.(?:ya?ml|sh|env|json|md|Dockerfile))",
            text,
        )
    ):
        if "*" not in path and "<" not in path:
            assert (ROOT / path).is_file(), f"docs/deploy.md names {path}, which does not exist"


def test_pinned_versions_agree_everywhere():
    v = _versions()
    docs = DOCS.read_text()
    for key in (
        "KSERVE_VERSION",
        "CERT_MANAGER_VERSION",
        "GATEWAY_API_VERSION",
        "ENVOY_GATEWAY_VERSION",
        "KUBE_PROMETHEUS_STACK_VERSION",
        "KIND_VERSION",
        "ARGOCD_VERSION",
        "KNATIVE_OPERATOR_VERSION",
    ):
        assert v[key] in docs, f"docs/deploy.md does not state {key}={v[key]}"
    apps = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "manifests/gitops/apps").glob("*.yaml")}

    def revision(app: str) -> str:
        spec = apps[app]["spec"]
        return (spec.get("source") or spec["sources"][0])["targetRevision"]

    assert revision("cert-manager") == v["CERT_MANAGER_VERSION"]
    assert revision("gateway-api-crds") == v["GATEWAY_API_VERSION"]
    assert revision("envoy-gateway") == revision("envoy-gateway-crds") == v["ENVOY_GATEWAY_VERSION"]
    assert revision("kube-prometheus-stack") == v["KUBE_PROMETHEUS_STACK_VERSION"]
    assert revision("kserve-crd") == revision("kserve") == v["KSERVE_VERSION"]
    from importlib.metadata import version

    assert v["KSERVE_VERSION"] == f"v{version('kserve')}", "the chart is validated against this SDK"


def test_gitops_applications_point_at_real_paths():
    for path in sorted((ROOT / "manifests/gitops").rglob("*.yaml")):
        if path.parent.name == "values":  # Helm values files, not Kubernetes objects
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            check_object(doc)
            if doc["kind"] not in ("Application", "AppProject"):
                continue
            spec = doc["spec"]
            for source in [spec.get("source"), *spec.get("sources", [])]:
                if source and source.get("repoURL", "").endswith("credit-scoring-platform.git"):
                    if "path" in source:
                        assert (ROOT / source["path"]).is_dir(), source["path"]
                    for values in source.get("helm", {}).get("valueFiles", []):
                        assert (ROOT / source["path"] / values).is_file(), values


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "docker").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_are_multi_stage_non_root_and_install_one_extra(dockerfile):
    text = dockerfile.read_text()
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert len(re.findall(r"^FROM ", text, flags=re.M)) == 2
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert len(set(froms)) == 1, froms
    assert not froms[0].endswith(":latest"), froms
    (installed,) = re.findall(r'--constraint requirements/constraints.txt "\.\[([a-z,]+)\]"', text)
    assert set(installed.split(",")) <= extras - {"dev"}
    expected = {"predictor": {"predictor"}, "transformer": {"transformer"}}.get(dockerfile.stem)
    if expected:
        assert set(installed.split(",")) == expected
    (user,) = re.findall(r"^USER (\d+):(\d+)$", text, flags=re.M)
    assert int(user[0]) == VALUES["podSecurity"]["runAsUser"]
    assert int(user[1]) == VALUES["podSecurity"]["runAsGroup"]
    assert text.rstrip().splitlines()[-1].startswith("USER "), "nothing runs as root after USER"
    for package in re.findall(r"^COPY (\w+)/ \w+/$", text, flags=re.M):
        assert (ROOT / package).is_dir()


def test_chart_runs_commands_the_images_provide():
    """Each container's command exists in its image: a module of the packages or a console script."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for doc in render_scenario("kind"):
        text = str(doc)
        for module in re.findall(r"'command': \['python', '-m', '([\w.]+)'\]", text):
            assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file() or (
                ROOT / Path(*module.split(".")) / "__main__.py"
            ).is_file(), module
        for script in re.findall(r"exec (credit-scoring|feast) ", text):
            assert script in scripts or script == "feast"


def test_the_helm_the_tests_run_is_the_pinned_one():
    """docs/deploy.md claims what is tested with Helm 4: it is the helm `make tools` installs."""
    from tests.deploy.rendering import helm

    assert helm("version", "--short").startswith(_versions()["HELM_VERSION"] + "+")
    assert _versions()["HELM_VERSION"] in DOCS.read_text()


def test_chart_declares_the_versions_it_is_tested_with():
    v = _versions()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    requires = " ".join(chart["annotations"]["credit-scoring/requires"].split())
    for key, name in (
        ("KSERVE_VERSION", "KServe"),
        ("GATEWAY_API_VERSION", "Gateway API"),
        ("ENVOY_GATEWAY_VERSION", "Envoy Gateway"),
    ):
        assert f"tested with {v[key].removeprefix('v')}" in requires, name
    assert f"kube-prometheus-stack {v['KUBE_PROMETHEUS_STACK_VERSION']}" in requires
    assert VALUES["serving"]["kserveVersion"] == v["KSERVE_VERSION"].removeprefix("v")
    minimum = chart["annotations"]["credit-scoring/kserve-min-version"]
    assert f"KServe >= {minimum.rsplit('.', 1)[0]}" in requires

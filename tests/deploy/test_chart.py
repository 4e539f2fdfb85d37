"""The Helm chart: lint, render every scenario, strict values, and what each scenario must contain."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from credit_scoring.schema import parse_applications
from tests.deploy.rendering import (
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    SCENARIOS,
    helm,
    render,
    render_scenario,
    scenario_flags,
)

EXPECTED_SCENARIOS = {
    "kind",
    "prod-like",
    "shadow",
    "split",
    "knative",
    "knative-split",
    "promotion-hook",
    "batch",
}


def _of_kind(docs: tuple[dict[str, Any], ...] | list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _isvc(docs: Any, name: str = RELEASE) -> dict[str, Any]:
    (found,) = [d for d in _of_kind(docs, "InferenceService") if d["metadata"]["name"] == name]
    return found


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_every_scenario_is_there():
    assert set(SCENARIOS) >= EXPECTED_SCENARIOS


def test_helm_lint_strict(scenario):
    out = helm(
        "lint", str(CHART), "--strict", "--namespace", NAMESPACE, *scenario_flags(scenario, upgrade=False)
    )
    assert "0 chart(s) failed" in out


def test_default_values_render_and_lint():
    helm("lint", str(CHART), "--strict")
    docs = render()
    assert _isvc(docs)["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"


def test_every_object_is_namespaced_and_labelled(rendered):
    for doc in rendered:
        meta = doc["metadata"]
        assert meta.get("namespace"), f"{doc['kind']}/{meta['name']} has no namespace"
        assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE, meta["name"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm", meta["name"]


# ----------------------------------------------------------------------------- values
def _leaves(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Documented keys: objects with declared properties are walked, free-form maps are leaves."""
    if isinstance(value, dict) and "properties" in schema:
        return [
            leaf
            for k, v in value.items()
            for leaf in _leaves(v, schema["properties"].get(k, {}), f"{path}.{k}" if path else k)
        ]
    return [path]


def test_values_file_documents_every_key():
    text = (CHART / "values.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./values.schema.json"
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, flags=re.M))
    schema = json.loads((CHART / "values.schema.json").read_text())
    leaves = set(_leaves(yaml.safe_load(text), schema))
    assert leaves - documented == set(), "keys without ## @param"
    assert documented - leaves == set(), "## @param for keys that do not exist"


def _objects_without_closed_properties(schema: dict[str, Any], path: str = "") -> list[str]:
    found = []
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and schema.get("additionalProperties") is not False
    ):
        found.append(path or "<root>")
    for key, sub in schema.get("properties", {}).items():
        found += _objects_without_closed_properties(sub, f"{path}.{key}" if path else key)
    return found


def test_schema_is_strict_and_describes_every_key():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _objects_without_closed_properties(schema) == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(v: Any, s: dict[str, Any], path: str) -> None:
        if isinstance(v, dict) and "properties" in s:
            assert sorted(s.get("required", [])) == sorted(v), (
                f"{path}: every key is required (no silent defaults)"
            )
            assert set(v) == set(s["properties"]), path
            for k, sub in v.items():
                walk(sub, s["properties"][k], f"{path}.{k}")
        else:
            assert s.get("description"), f"{path} has no description"

    for key, value in values.items():
        walk(value, schema["properties"][key], key)


@pytest.mark.parametrize(
    ("flag", "complaint"),
    [
        ("predictor.minReplcias=1", "minReplcias"),  # a typo is rejected, not ignored
        ("unknownTopLevel=1", "unknownTopLevel"),
        ("serving.deploymentMode=Serverless", "deploymentMode"),
        ("gateway.auth.type=basic", "type"),
        ("rollout.enabled=true", "rollout"),  # the router replaced KServe's canary: the key is gone
        ("predictor.storageUri=s3://b/m", "storageUri"),
        ("challenger.mode=canary", "mode"),
        ("challenger.percent=101", "percent"),
        ("challenger.modelUri=runs:/abc/model", "modelUri"),
        ("predictor.modelUri=s3://bucket/model", "modelUri"),
        ("predictor.resources.limits.memory=lots", "memory"),
    ],
)
def test_schema_rejects_bad_values(flag, complaint):
    with pytest.raises(AssertionError, match=complaint):
        helm("template", RELEASE, str(CHART), "--set", flag)


# ----------------------------------------------------------------------------- security defaults
def _pod_specs(docs: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every pod the release creates, KServe components included."""
    pods = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "InferenceService":
            spec = doc["spec"]
            for component in ("transformer", "predictor"):
                if component in spec:
                    pods.append((f"{name}.{component}", spec[component]))
        elif doc["kind"] == "CronJob":
            pods.append((name, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif doc["kind"] in ("Job", "Deployment", "StatefulSet"):
            pods.append((name, doc["spec"]["template"]["spec"]))
    return pods


def test_every_container_is_locked_down(rendered):
    pods = _pod_specs(rendered)
    assert len(pods) >= 5
    for name, pod in pods:
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert sc["runAsUser"] >= 10000, name
            assert set(c["resources"]) == {"requests", "limits"}, name
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name


def test_no_credentials_in_rendered_manifests(rendered):
    assert _of_kind(rendered, "Secret") == [], "the chart references Secrets, it never carries them"
    for name, pod in _pod_specs(rendered):
        for c in pod["containers"]:
            for var in c.get("env", []):
                if (
                    re.search(r"PASSWORD|SECRET|TOKEN|_KEY$|_URL$", var["name"])
                    and var["name"]
                    not in (
                        "MLFLOW_S3_ENDPOINT_URL",
                        "AWS_ENDPOINT_URL_S3",
                        "CREDIT_PUSHGATEWAY_URL",
                        # Where to clone from and what to query: the credentials are a header
                        # from the hook's Secret, never part of a URL.
                        "CREDIT_PROMOTION_HOOK_CLONE_URL",
                        "CREDIT_PROMOTION_HOOK_PROMETHEUS_URL",
                    )
                    and not var["name"].startswith("MLFLOW_TRACKING")
                ):
                    assert "valueFrom" in var, f"{name}: {var['name']} must come from a Secret"


# ----------------------------------------------------------------------------- serving scenarios
def test_standard_mode_is_the_default_and_uses_kserve_service_names():
    docs = render_scenario("kind")
    isvc = _isvc(docs)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert "canary" not in isvc["spec"]
    transformer = isvc["spec"]["transformer"]["containers"][0]
    args = transformer["args"]
    assert args[args.index("--predictor_host") + 1] == f"{RELEASE}-predictor.{NAMESPACE}:80"
    assert args[args.index("--predictor_protocol") + 1] == "v2"
    predictor = isvc["spec"]["predictor"]["containers"][0]
    assert predictor["command"] == ["python", "-m", "predictor"]
    assert _env(predictor)["CREDIT_MODEL_URI"] == "models:/credit-risk@champion"
    assert _env(predictor)["CREDIT_BIND_ADDRESS"] == "0.0.0.0"


def _without(container: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**container, "env": [e for e in container["env"] if e["name"] not in names]}


@pytest.mark.parametrize("scenario", ["shadow", "split", "knative-split"])
def test_challenger_predictor_runs_the_champion_container_with_another_model(scenario):
    """So the contract test of the champion predictor covers it too."""
    docs = render_scenario(scenario)
    challenger = _isvc(docs, f"{RELEASE}-challenger")["spec"]["predictor"]["containers"][0]
    champion = _isvc(docs)["spec"]["predictor"]["containers"][0]
    assert _without(challenger, "CREDIT_MODEL_URI") == _without(champion, "CREDIT_MODEL_URI")


def test_request_based_autoscaling_needs_knative():
    with pytest.raises(AssertionError, match=r"transformer\.scaleMetric concurrency needs Knative mode"):
        render("--set", "transformer.scaleMetric=concurrency")


def test_knative_mode_first_install_serves_the_champion():
    docs = render_scenario("knative")
    isvc = _isvc(docs)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert "canary" not in isvc["spec"]
    predictor = isvc["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert _env(predictor["containers"][0])["CREDIT_MODEL_URI"] == "models:/credit-risk@champion"
    assert predictor["scaleMetric"] == "concurrency"
    for component in ("transformer", "predictor"):
        (container,) = isvc["spec"][component]["containers"]
        assert len(container["ports"]) == 1, "Knative allows one port per container"
        assert "startupProbe" not in container
    assert _of_kind(docs, "Service") == []
    (grant,) = _of_kind(docs, "ReferenceGrant")
    assert grant["spec"]["from"][0]["namespace"] == NAMESPACE
    assert grant["metadata"]["namespace"] == "knative-serving", "the Knative operator runs Kourier there"
    assert _of_kind(docs, "PodDisruptionBudget") == [], "one pod per component: a PDB would block drains"


def test_knative_split_uses_the_router_not_knative_revision_weights():
    """Knative mode keeps the per-applicant split: a second InferenceService (its own Knative
    Service), no canaryTrafficPercent, the transformer calling it by its predictor host."""
    docs = render_scenario("knative-split")
    isvc, challenger = _isvc(docs), _isvc(docs, f"{RELEASE}-challenger")
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert (
        _env(isvc["spec"]["predictor"]["containers"][0])["CREDIT_MODEL_URI"] == "models:/credit-risk@champion"
    )
    assert challenger["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    (container,) = challenger["spec"]["predictor"]["containers"]
    assert len(container["ports"]) == 1
    assert "startupProbe" not in container
    env = _env(isvc["spec"]["transformer"]["containers"][0])
    assert env["CREDIT_CHALLENGER_MODE"] == "split"
    assert env["CREDIT_CHALLENGER_PERCENT"] == "10"
    assert env["CREDIT_CHALLENGER_PREDICTOR_HOST"] == f"{RELEASE}-challenger-predictor.{NAMESPACE}:80"


def test_shadow_deploys_a_predictor_only_challenger():
    docs = render_scenario("shadow")
    shadow = _isvc(docs, f"{RELEASE}-challenger")
    assert set(shadow["spec"]) == {"predictor"}
    assert (
        _env(shadow["spec"]["predictor"]["containers"][0])["CREDIT_MODEL_URI"]
        == "models:/credit-risk@challenger"
    )
    transformer = _isvc(docs)["spec"]["transformer"]["containers"][0]
    assert (
        _env(transformer)["CREDIT_SHADOW_PREDICTOR_HOST"] == f"{RELEASE}-challenger-predictor.{NAMESPACE}:80"
    )


# ----------------------------------------------------------------------------- gateway
def test_routes_rewrite_public_paths_to_kserve_paths():
    docs = render_scenario("kind")
    rules = {}
    for route in _of_kind(docs, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            (match,) = rule["matches"]
            (rewrite,) = rule["filters"]
            rules[match["path"]["value"]] = (
                match["method"],
                rewrite["urlRewrite"]["path"]["replaceFullPath"],
                rule["backendRefs"][0]["name"],
            )
    assert rules == {
        "/predict": ("POST", "/v1/models/credit-scoring:predict", f"{RELEASE}-transformer"),
        "/predict/batch": ("POST", "/v1/models/credit-scoring:predict", f"{RELEASE}-transformer"),
        "/monitoring": ("GET", "/monitoring", f"{RELEASE}-transformer"),
    }


def test_auth_is_on_by_default_and_in_the_kind_flow():
    assert _of_kind(render(), "SecurityPolicy")[0]["spec"]["apiKeyAuth"]["extractFrom"] == [
        {"headers": ["x-api-key"]}
    ]
    (jwt,) = _of_kind(render_scenario("prod-like"), "SecurityPolicy")
    assert jwt["spec"]["jwt"]["providers"][0]["remoteJWKS"]["uri"].startswith("https://")
    # make kind-deploy and skaffold's profiles: the gateway checks the key kind-deploy.sh generates.
    for scenario in ("kind", "knative", "knative-split"):
        (policy,) = _of_kind(render_scenario(scenario), "SecurityPolicy")
        assert policy["spec"]["apiKeyAuth"]["credentialRefs"][0]["name"] == "credit-scoring-api-keys"
        assert _env(_transformer_pod(render_scenario(scenario))[1])["CREDIT_AUTH"] == "api-key"
    targets = {t["name"] for t in jwt["spec"]["targetRefs"]}
    assert targets == {r["metadata"]["name"] for r in _of_kind(render_scenario("prod-like"), "HTTPRoute")}


def _transformer_pod(docs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    transformer = _isvc(docs)["spec"]["transformer"]
    (container,) = transformer["containers"]
    return transformer, container


def test_with_jwt_at_the_gateway_the_transformer_verifies_the_same_token():
    docs = render_scenario("prod-like")
    (policy,) = _of_kind(docs, "SecurityPolicy")
    (provider,) = policy["spec"]["jwt"]["providers"]
    pod, container = _transformer_pod(docs)
    env = _env(container)
    assert env["CREDIT_AUTH"] == "jwt"
    assert env["CREDIT_JWT_ISSUER"] == provider["issuer"]
    assert env["CREDIT_JWT_AUDIENCE"] in provider["audiences"]
    # The key set is a directory mount (the kubelet updates it; a subPath mount never would).
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "jwks"]
    assert env["CREDIT_JWKS_PATH"] == f"{mount['mountPath']}/jwks.json"
    assert mount["readOnly"] is True
    assert "subPath" not in mount
    (volume,) = [v for v in pod["volumes"] if v["name"] == "jwks"]
    assert volume["configMap"]["name"] == "credit-scoring-jwks"
    assert "CREDIT_API_KEYS_PATH" not in env
    assert not [v for v in pod["volumes"] if v["name"] == "api-key-hashes"]
    # API keys at the gateway: API keys in the transformer, no key set mounted.
    _, default = _transformer_pod(render())
    assert _env(default)["CREDIT_AUTH"] == "api-key"
    assert not [m for m in default["volumeMounts"] if m["name"] == "jwks"]


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (("--set", "transformer.auth.jwt.jwksConfigMap="), "set transformer.auth.jwt.jwksConfigMap"),
        (("--set-json", "gateway.auth.jwt.audiences=[]"), "needs an audience"),
    ],
)
def test_transformer_jwt_needs_its_key_set_and_an_audience(flags, complaint):
    values = str(CHART / "ci" / "prod-like-values.yaml")
    with pytest.raises(AssertionError, match=complaint):
        render(*flags, values=(values,))


def test_transformer_jwt_key_set_may_come_from_the_issuers_url_through_its_own_egress():
    values = str(CHART / "ci" / "prod-like-values.yaml")
    url = "https://auth.example.com/.well-known/jwks.json"
    egress = {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    docs = render(
        "--set",
        "transformer.auth.jwt.jwksConfigMap=",
        "--set",
        f"transformer.auth.jwt.jwksUrl={url}",
        "--set-json",
        f"transformer.auth.jwt.jwksUrlEgress=[{json.dumps(egress)}]",
        values=(values,),
    )
    pod, container = _transformer_pod(docs)
    env = _env(container)
    assert env["CREDIT_AUTH"] == "jwt"
    assert env["CREDIT_JWKS_URL"] == url
    assert env["CREDIT_JWKS_REFRESH_SECONDS"] == "300"
    assert "CREDIT_JWKS_PATH" not in env
    assert not [v for v in pod["volumes"] if v["name"] == "jwks"]
    (policy,) = [
        p for p in _of_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == f"{RELEASE}-transformer"
    ]
    assert egress in policy["spec"]["egress"]
    # Without jwksUrl no such rule: the default render's transformer reaches nothing outside.
    (default,) = [
        p for p in _of_kind(render(), "NetworkPolicy") if p["metadata"]["name"] == f"{RELEASE}-transformer"
    ]
    assert not [r for r in default["spec"]["egress"] if any("ipBlock" in t for t in r["to"])]


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (("--set", "transformer.auth.jwt.jwksUrl=https://auth.example.com/jwks"), "not both"),
        (
            (
                "--set",
                "transformer.auth.jwt.jwksConfigMap=",
                "--set",
                "transformer.auth.jwt.jwksUrl=https://a.test/j",
            ),
            "set transformer.auth.jwt.jwksUrlEgress",
        ),
        (("--set", "transformer.auth.jwt.jwksUrl=ftp://a.test/j"), "jwksUrl"),
    ],
)
def test_a_jwks_url_is_one_source_of_keys_with_a_way_out(flags, complaint):
    values = str(CHART / "ci" / "prod-like-values.yaml")
    with pytest.raises(AssertionError, match=complaint):
        render(*flags, values=(values,))


def test_transformer_jwt_audience_may_differ_from_the_gateways_first():
    values = str(CHART / "ci" / "prod-like-values.yaml")
    docs = render("--set", "transformer.auth.jwt.audience=scoring-api", values=(values,))
    assert _env(_transformer_pod(docs)[1])["CREDIT_JWT_AUDIENCE"] == "scoring-api"


# ----------------------------------------------------------------------------- network policies
def test_network_policies_allow_only_the_serving_chain(rendered):
    policies = {
        p["metadata"]["name"].removeprefix(f"{RELEASE}-"): p["spec"]
        for p in _of_kind(rendered, "NetworkPolicy")
        if p["metadata"]["name"] != f"{RELEASE}-batch-spark"  # tests/deploy/test_batch_chart.py
    }
    hook = {"promotion-hook"} if any(d["kind"] == "Deployment" for d in rendered) else set()
    assert set(policies) == {"default-deny", "transformer", "predictor", "jobs", *hook}
    predictor_ingress = policies["predictor"]["ingress"][0]["from"]
    assert predictor_ingress == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "credit-scoring",
                    "app.kubernetes.io/instance": RELEASE,
                    "app.kubernetes.io/component": "transformer",
                }
            }
        }
    ]
    store_ports = {
        name: sorted(port["port"] for rule in spec["egress"] for port in rule.get("ports", []))
        for name, spec in policies.items()
    }
    assert store_ports["predictor"] == [5000, 9000]  # MLflow and S3, nothing else
    assert {6379, 5432} <= set(store_ports["transformer"])
    assert 5000 not in store_ports["transformer"]
    assert "ingress" not in policies["jobs"]


# ----------------------------------------------------------------------------- jobs
def _serving_jobs(docs: Any, kind: str) -> list[dict[str, Any]]:
    """Jobs or CronJobs other than portfolio scoring's (tests/deploy/test_batch_chart.py)."""
    return [
        d
        for d in _of_kind(docs, kind)
        if d["spec"]
        .get("template", d["spec"].get("jobTemplate", {}).get("spec", {}).get("template", {}))
        .get("metadata", {})
        .get("labels", {})
        .get("credit-scoring/job")
        != "batch-score"
    ]


def test_jobs_are_cronjobs_and_a_hook(rendered):
    cronjobs = {c["metadata"]["name"]: c for c in _serving_jobs(rendered, "CronJob")}
    assert set(cronjobs) == {f"{RELEASE}-drift", f"{RELEASE}-materialize", f"{RELEASE}-train"}
    assert cronjobs[f"{RELEASE}-train"]["spec"]["suspend"] is True
    drift = cronjobs[f"{RELEASE}-drift"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert drift["command"] == ["python", "-m", "monitoring.drift"]
    materialize = cronjobs[f"{RELEASE}-materialize"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    materialize_script = " ".join(materialize["containers"][0]["args"])
    assert "credit-scoring features materialize --incremental" in materialize_script
    (hook,) = _serving_jobs(rendered, "Job")
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    hook_script = " ".join(hook["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "credit-scoring features apply; credit-scoring features materialize" in hook_script


# ----------------------------------------------------------------------------- monitoring objects
def _chart_copy_with(tmp_path: Path, rules: dict[str, Any], dashboards: dict[str, Any]) -> Path:
    chart = tmp_path / "credit-scoring"
    shutil.copytree(CHART, chart)
    for d in ("rules", "dashboards"):
        shutil.rmtree(chart / "files" / d, ignore_errors=True)
        (chart / "files" / d).mkdir(parents=True)
    for name, content in rules.items():
        (chart / "files" / "rules" / name).write_text(yaml.safe_dump(content))
    for name, content in dashboards.items():
        (chart / "files" / "dashboards" / name).write_text(json.dumps(content))
    return chart


def test_prometheus_rule_and_dashboards_are_built_from_the_files(tmp_path):
    rules = {
        "a.yaml": {
            "groups": [
                {
                    "name": "credit-a",
                    "rules": [
                        {
                            "alert": "CreditA",
                            "expr": "credit_score_psi > 0.25",
                            "for": "5m",
                            "annotations": {"summary": "PSI {{ $value }} on {{ $labels.version }}"},
                        }
                    ],
                }
            ]
        },
        "b.yaml": {"groups": [{"name": "credit-b", "rules": [{"record": "x:y", "expr": "sum(up)"}]}]},
    }
    dashboards = {"service.json": {"title": "Service", "panels": []}, "drift.json": {"title": "Drift"}}
    chart = _chart_copy_with(tmp_path, rules, dashboards)
    docs = [
        d for d in yaml.safe_load_all(helm("template", RELEASE, str(chart), "--namespace", NAMESPACE)) if d
    ]
    (rule,) = _of_kind(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == rules["a.yaml"]["groups"] + rules["b.yaml"]["groups"]
    maps = {m["metadata"]["name"]: m for m in _of_kind(docs, "ConfigMap")}
    assert set(maps) == {f"{RELEASE}-dashboard-service", f"{RELEASE}-dashboard-drift"}
    for m in maps.values():
        assert m["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, body),) = m["data"].items()
        assert json.loads(body) == dashboards[key]


def test_no_rule_files_means_no_empty_prometheus_rule(tmp_path):
    chart = _chart_copy_with(tmp_path, {}, {})
    docs = [d for d in yaml.safe_load_all(helm("template", RELEASE, str(chart))) if d]
    assert _of_kind(docs, "PrometheusRule") == []
    assert _of_kind(docs, "ConfigMap") == []


def test_shipped_rule_files_and_dashboards_are_all_templated():
    docs = render_scenario("prod-like")
    rule_files = sorted((CHART / "files" / "rules").glob("*.yaml"))
    groups = [g for f in rule_files for g in (yaml.safe_load(f.read_text()) or {}).get("groups", [])]
    rendered_groups = [g for r in _of_kind(docs, "PrometheusRule") for g in r["spec"]["groups"]]
    assert rendered_groups == groups
    dashboards = sorted(p.name for p in (CHART / "files" / "dashboards").glob("*.json"))
    assert sorted(k for m in _of_kind(docs, "ConfigMap") for k in m["data"]) == dashboards


# ----------------------------------------------------------------------------- NOTES.txt
@pytest.mark.parametrize("scenario_name", ["kind", "prod-like", "knative"])
def test_notes_name_objects_that_exist(scenario_name):
    values = str(CHART / "ci" / f"{scenario_name}-values.yaml")
    out = helm(
        "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE, "--values", values
    )
    notes = out.split("NOTES:", 1)[1]
    docs = render_scenario(scenario_name)
    names = {(d["kind"].lower(), d["metadata"]["name"]) for d in docs}
    for kind, name in re.findall(r"(inferenceservice|cronjob)/([a-z0-9-]+)", notes):
        assert (kind, name) in names, f"NOTES mention {kind}/{name}, which the chart does not create"
    for path in re.findall(r"--data @(\S+)", notes):
        assert (ROOT / path).is_file(), f"NOTES send {path}, which is not in the repository"
    bodies = re.findall(r"--data '([^']+)'", notes)
    assert bodies, "NOTES show how to score"
    for body in bodies:  # a valid request under the shared contract
        assert len(parse_applications(json.loads(body)["instances"], max_batch=1000)) == 1
    pod_labels = {f"{k}={v}" for _, pod in _pod_specs(docs) for k, v in pod.get("labels", {}).items()}
    for selector in re.findall(r"-l (\S+)", notes):
        for term in selector.split(","):
            assert term in pod_labels or term == f"app.kubernetes.io/instance={RELEASE}", term

"""The gateway's per-client rate limit and what stands behind it: the BackendTrafficPolicies count
each authenticated client apart (a Global rule with a Distinct selector on the header Envoy's auth
filter sets), with the transformer's number; Envoy Gateway is installed with its rate-limit
service on the platform's Redis, the same way by the script and by Argo CD; /metrics is on no
route and only Prometheus (and Envoy's proxies, whose route cannot reach it) get to the port.
The objects' schemas (vendored Envoy Gateway v1.8.1 CRDs) are checked in test_schemas.py."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from tests.deploy.rendering import CHART, RELEASE, ROOT, SCENARIOS, render, render_scenario

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
EG_VALUES = ROOT / "manifests/install/envoy-gateway-values.yaml"


def _of_kind(docs: Any, kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _transformer_env(docs: Any) -> dict[str, Any]:
    (isvc,) = [d for d in _of_kind(docs, "InferenceService") if d["metadata"]["name"] == RELEASE]
    container = isvc["spec"]["transformer"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _client_header(security: dict[str, Any]) -> str:
    """The header the SecurityPolicy has Envoy set to the authenticated client."""
    spec = security["spec"]
    if "apiKeyAuth" in spec:
        return str(spec["apiKeyAuth"]["forwardClientIDHeader"])
    (provider,) = spec["jwt"]["providers"]
    (claim,) = [c for c in provider["claimToHeaders"] if c["claim"] == "sub"]
    return str(claim["header"])


def _limits(docs: Any) -> dict[str, dict[str, Any]]:
    """route name -> its BackendTrafficPolicy's rateLimit."""
    limits = {}
    for policy in _of_kind(docs, "BackendTrafficPolicy"):
        (target,) = policy["spec"]["targetRefs"]
        limits[target["name"]] = policy["spec"]["rateLimit"]
    return limits


# ----------------------------------------------------------------------------- the chart's policies
def test_every_route_is_limited_per_client_when_the_gateway_authenticates(rendered):
    routes = {r["metadata"]["name"] for r in _of_kind(rendered, "HTTPRoute")}
    limits = _limits(rendered)
    assert set(limits) == routes
    env = _transformer_env(rendered)
    numbers = {
        RELEASE: (int(env["CREDIT_RATE_LIMIT_PER_SECOND"]), "Second"),
        f"{RELEASE}-batch": (VALUES["gateway"]["rateLimit"]["batchRequestsPerMinute"], "Minute"),
    }
    security = _of_kind(rendered, "SecurityPolicy")
    for route, limit in limits.items():
        assert "type" not in limit, "rateLimit.type is deprecated in Envoy Gateway v1.8"
        if security:
            (policy,) = security
            assert {t["name"] for t in policy["spec"]["targetRefs"]} >= {route}
            assert set(limit) == {"global"}, "no shared budget next to the per-client one"
            (rule,) = limit["global"]["rules"]
            assert rule["clientSelectors"] == [
                {"headers": [{"name": _client_header(policy), "type": "Distinct"}]}
            ]
        else:
            # No client identity at the gateway: one budget per Envoy replica, documented so.
            assert set(limit) == {"local"}
            (rule,) = limit["local"]["rules"]
            assert "clientSelectors" not in rule
        assert (rule["limit"]["requests"], rule["limit"]["unit"]) == numbers[route]


def test_the_gateway_knows_the_client_by_the_transformers_key_header():
    """API keys: the gateway reads the header the transformer reads and forwards the client id
    (the Secret's key name, the transformer's client:hash prefix), never the key, to the limit."""
    docs = render_scenario("split")
    (policy,) = _of_kind(docs, "SecurityPolicy")
    auth = policy["spec"]["apiKeyAuth"]
    assert auth["extractFrom"] == [{"headers": [_transformer_env(docs)["CREDIT_API_KEY_HEADER"]]}]
    assert auth["forwardClientIDHeader"] == VALUES["gateway"]["rateLimit"]["clientHeader"]
    assert auth["forwardClientIDHeader"] not in auth["extractFrom"][0]["headers"]
    assert not auth.get("sanitize"), "the transformer checks the key again"


def test_jwt_clients_are_counted_by_their_subject_at_the_gateway_and_in_the_transformer():
    docs = render_scenario("prod-like")
    (policy,) = _of_kind(docs, "SecurityPolicy")
    (provider,) = policy["spec"]["jwt"]["providers"]
    header = VALUES["gateway"]["rateLimit"]["clientHeader"]
    assert provider["claimToHeaders"] == [{"claim": "sub", "header": header}]
    # The transformer checks no JWT: its bucket counts the subject the gateway wrote.
    env = _transformer_env(docs)
    assert (env["CREDIT_AUTH"], env["CREDIT_CLIENT_HEADER"]) == ("off", header)
    assert "CREDIT_CLIENT_HEADER" not in _transformer_env(render_scenario("split")), "keys decide there"


def test_per_client_limits_are_rendered_by_both_auth_types():
    kinds = {
        next(iter(set(p["spec"]) & {"apiKeyAuth", "jwt"}))
        for s in SCENARIOS
        for p in _of_kind(render_scenario(s), "SecurityPolicy")
    }
    assert kinds == {"apiKeyAuth", "jwt"}, "a scenario of each kind keeps the test above honest"


def test_one_number_drives_the_gateway_and_the_transformer():
    docs = render("--set", "rateLimit.requestsPerSecond=37", "--set", "rateLimit.burst=50")
    assert _limits(docs)[RELEASE]["global"]["rules"][0]["limit"] == {"requests": 37, "unit": "Second"}
    env = _transformer_env(docs)
    assert (env["CREDIT_RATE_LIMIT_PER_SECOND"], env["CREDIT_RATE_LIMIT_BURST"]) == ("37", "50")
    off = render("--set", "rateLimit.requestsPerSecond=0")
    assert set(_limits(off)) == {f"{RELEASE}-batch"}, "0 turns the per-second limit off at both"
    assert _transformer_env(off)["CREDIT_RATE_LIMIT_PER_SECOND"] == "0"


# ----------------------------------------------------------------------------- Envoy Gateway itself
def _eg_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(EG_VALUES.read_text())
    return values


def test_envoy_gateway_counts_in_the_platforms_redis():
    config = _eg_values()["config"]["envoyGateway"]
    redis = VALUES["stores"]["redis"]
    assert config["rateLimit"]["backend"] == {
        "type": "Redis",
        "redis": {"url": f"{redis['host']}:{redis['port']}"},
    }
    (env,) = config["provider"]["kubernetes"]["rateLimitDeployment"]["container"]["env"]
    assert env == {
        "name": "REDIS_AUTH",  # envoyproxy/ratelimit's password setting
        "valueFrom": {"secretKeyRef": {"name": "credit-ratelimit-redis", "key": "REDIS_AUTH"}},
    }
    assert config["provider"]["type"] == "Kubernetes"


def test_the_install_script_and_argo_cd_install_envoy_gateway_with_those_values():
    script = (ROOT / "scripts/install-platform.sh").read_text().replace("\\\n", " ")
    (command,) = [line for line in script.splitlines() if "oci://docker.io/envoyproxy/gateway-helm" in line]
    argv = shlex.split(command)
    assert argv[argv.index("--values") + 1] == f"$ROOT/{EG_VALUES.relative_to(ROOT)}"

    app = yaml.safe_load((ROOT / "manifests/gitops/apps/envoy-gateway.yaml").read_text())
    (chart,) = [s for s in app["spec"]["sources"] if s.get("chart") == "gateway-helm"]
    (ref,) = [s for s in app["spec"]["sources"] if "ref" in s]
    assert chart["helm"]["valueFiles"] == [f"${ref['ref']}/{EG_VALUES.relative_to(ROOT)}"]
    assert ref["repoURL"].endswith("credit-scoring-platform.git")
    assert "config" not in chart["helm"].get("valuesObject", {}), "one copy of the configuration"


def test_the_rate_limit_services_redis_password_secret_is_created_and_documented():
    secret = _eg_values()["config"]["envoyGateway"]["provider"]["kubernetes"]["rateLimitDeployment"][
        "container"
    ]["env"][0]["valueFrom"]["secretKeyRef"]
    deploy = (ROOT / "scripts/kind-deploy.sh").read_text()
    assert re.search(
        rf"ensure_secret envoy-gateway-system {secret['name']} \\\n\s+\"{secret['key']}=\$\(secret_value "
        r'"\$DATA_NAMESPACE" credit-redis REDIS_PASSWORD\)"',
        deploy,
    )
    docs = (ROOT / "docs/deploy.md").read_text()
    assert f"-n envoy-gateway-system create secret generic {secret['name']}" in docs


def test_redis_admits_the_rate_limit_service():
    policies = [
        d for d in yaml.safe_load_all((ROOT / "manifests/base/networkpolicies.yaml").read_text()) if d
    ]
    (policy,) = [p for p in policies if p["metadata"]["name"] == "redis-from-ratelimit"]
    assert policy["spec"]["podSelector"]["matchLabels"] == VALUES["stores"]["redis"]["podLabels"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "envoy-gateway-system"}
    # Envoy Gateway v1.8.1 labels the rate-limit pods so (internal/infrastructure/kubernetes/ratelimit).
    assert peer["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "envoy-ratelimit",
        "app.kubernetes.io/component": "ratelimit",
    }
    assert rule["ports"] == [{"protocol": "TCP", "port": VALUES["stores"]["redis"]["port"]}]


# ----------------------------------------------------------------------------- /metrics
def _route_paths(route: dict[str, Any]) -> list[tuple[str, str]]:
    """(matched path, path the backend sees) of every rule."""
    paths = []
    for rule in route["spec"]["rules"]:
        rewrite = next(
            (f["urlRewrite"]["path"] for f in rule.get("filters", []) if f["type"] == "URLRewrite"), None
        )
        for match in rule["matches"]:
            path = match["path"]
            assert path["type"] == "Exact", "a prefix match could reach /metrics"
            sent = rewrite["replaceFullPath"] if rewrite else path["value"]
            paths.append((path["value"], sent))
    return paths


def test_metrics_is_on_no_gateway_route(rendered):
    routes = _of_kind(rendered, "HTTPRoute")
    for route in routes:
        for matched, sent in _route_paths(route):
            assert "metrics" not in matched, matched
            assert "metrics" not in sent, (matched, sent)


@pytest.mark.parametrize("component", ["transformer", "predictor"])
def test_only_prometheus_and_envoys_proxies_reach_the_serving_port(rendered, component):
    (policy,) = [
        p for p in _of_kind(rendered, "NetworkPolicy") if p["metadata"]["name"] == f"{RELEASE}-{component}"
    ]
    network = VALUES["networkPolicy"]
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": network["monitoringNamespace"]}},
        "podSelector": {"matchLabels": network["prometheusPodLabels"]},
    }
    envoy = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": VALUES["gateway"]["namespace"]}},
        "podSelector": {"matchLabels": network["gatewayPodLabels"]},
    }
    knative = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}}
        for n in network["knativeNamespaces"]
    ]
    transformer = {"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "credit-scoring",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "transformer",
    }}}  # fmt: skip
    allowed = {"transformer": [prometheus, envoy, *knative], "predictor": [prometheus, transformer, *knative]}
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    for peer in peers:
        assert peer in allowed[component], peer
    assert prometheus in peers
    for rule in policy["spec"]["ingress"]:
        if prometheus in rule["from"]:
            assert {p["port"] for p in rule["ports"]} == {8080}

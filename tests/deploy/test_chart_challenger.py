"""The chart's champion-challenger block and the promotion hook (issue #13)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.rendering import CHART, NAMESPACE, RELEASE, render, render_scenario
from transformer.routing import challenger_rows


def _of_kind(docs: Any, kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _isvc(docs: Any, name: str = RELEASE) -> dict[str, Any]:
    (found,) = [d for d in _of_kind(docs, "InferenceService") if d["metadata"]["name"] == name]
    return found


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_challenger_is_off_by_default():
    docs = render()
    assert [i["metadata"]["name"] for i in _of_kind(docs, "InferenceService")] == [RELEASE]
    env = _env(_isvc(docs)["spec"]["transformer"]["containers"][0])
    assert env["CREDIT_CHALLENGER_MODE"] == "off"
    assert "CREDIT_SHADOW_PREDICTOR_HOST" not in env


def test_split_renders_the_challenger_behind_its_own_service_and_the_router_settings():
    docs = render("--set", "challenger.mode=split", "--set", "challenger.percent=10")
    challenger = _isvc(docs, f"{RELEASE}-challenger")
    assert set(challenger["spec"]) == {"predictor"}
    assert challenger["spec"]["predictor"]["labels"]["credit-scoring/role"] == "challenger"
    env = _env(_isvc(docs)["spec"]["transformer"]["containers"][0])
    assert env["CREDIT_CHALLENGER_MODE"] == "split"
    assert env["CREDIT_CHALLENGER_PERCENT"] == "10"
    assert env["CREDIT_CHALLENGER_PREDICTOR_HOST"] == f"{RELEASE}-challenger-predictor.{NAMESPACE}:80"
    assert "CREDIT_SHADOW_PREDICTOR_HOST" not in env
    assert "canary" not in _isvc(docs)["spec"], "the router splits, not KServe"
    (policy,) = [
        p for p in _of_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == f"{RELEASE}-transformer"
    ]
    targets = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in policy["spec"]["egress"][0]["to"]
    ]
    assert targets == ["predictor", "challenger"]


@pytest.mark.parametrize(("transformers", "challengers"), [(2, 1), (2, 2), (5, 1), (3, 4)])
def test_split_share_is_the_setting_at_every_replica_count(transformers: int, challengers: int):
    """The chart hands every transformer replica the same percentage and the challenger's one
    Service; the router's hash (a pure function of applicant, percentage and challenger version)
    then gives the same share whatever the replica counts: nothing is split by pods or routes."""
    docs = render(
        "--values",
        str(CHART / "ci" / "split-values.yaml"),
        "--set",
        f"transformer.minReplicas={transformers}",
        "--set",
        f"transformer.maxReplicas={max(transformers, 4)}",
        "--set",
        f"challenger.replicas={challengers}",
    )
    isvc = _isvc(docs)
    assert isvc["spec"]["transformer"]["minReplicas"] == transformers
    assert "canary" not in isvc["spec"]
    assert not [s for s in _of_kind(docs, "Service") if s["metadata"]["name"].endswith("predictor-pool")]
    challenger = _isvc(docs, f"{RELEASE}-challenger")["spec"]["predictor"]
    assert challenger["minReplicas"] == challenger["maxReplicas"] == challengers
    env = _env(isvc["spec"]["transformer"]["containers"][0])
    assert env["CREDIT_CHALLENGER_MODE"] == "split"
    assert env["CREDIT_CHALLENGER_PREDICTOR_HOST"] == f"{RELEASE}-challenger-predictor.{NAMESPACE}:80"
    percent = int(env["CREDIT_CHALLENGER_PERCENT"])
    assert percent == 10
    ids = [f"applicant-{i:05d}" for i in range(10_000)]
    share = challenger_rows(ids, percent, salt="2").mean() * 100
    assert abs(share - percent) <= 1.0, share


def test_promotion_hook_is_off_by_default_and_locked_down_when_on():
    assert _of_kind(render(), "Deployment") == []
    docs = render_scenario("promotion-hook")
    (hook,) = _of_kind(docs, "Deployment")
    assert hook["spec"]["replicas"] == 1
    (container,) = hook["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["credit-scoring", "promotion-hook"]
    env = _env(container)
    assert env["CREDIT_PROMOTION_HOOK_SECRET"]["secretKeyRef"]["name"] == "credit-scoring-promotion-hook"
    assert env["CREDIT_PROMOTION_HOOK_GIT_AUTH_HEADER"]["secretKeyRef"]["optional"] is True
    assert env["CREDIT_PROMOTION_HOOK_CLONE_URL"].startswith("https://")
    (service,) = [
        s for s in _of_kind(docs, "Service") if s["metadata"]["name"] == f"{RELEASE}-promotion-hook"
    ]
    assert service["spec"]["ports"][0]["targetPort"] == 8090
    (policy,) = [
        p for p in _of_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == f"{RELEASE}-promotion-hook"
    ]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "mlflow"}
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8090}]
    external = [r for r in policy["spec"]["egress"] if "ipBlock" in r["to"][0]]
    assert {p["port"] for p in external[0]["ports"]} == {443, 22}
    assert "10.0.0.0/8" in external[0]["to"][0]["ipBlock"]["except"]
    with pytest.raises(AssertionError, match=r"promotionHook\.cloneUrl"):
        render("--set", "promotionHook.enabled=true")

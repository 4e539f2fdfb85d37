"""Every rendered object validates strictly: Kubernetes' schemas, and KServe's SDK for InferenceServices."""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest

from tests.deploy.kserve_strict import validate_inference_service
from tests.deploy.manifests_check import KUBERNETES_VERSION, check_object
from tests.deploy.rendering import OVERLAYS, kustomize, render_scenario

EXPECTED_OVERLAYS = ("kind", "prod")


def test_every_rendered_object_validates_strictly(rendered):
    used = {check_object(obj) for obj in rendered}
    assert {"kubernetes", "kserve"} <= used


@pytest.mark.parametrize("overlay", EXPECTED_OVERLAYS)
def test_kustomize_overlay_renders_and_validates(overlay):
    docs = kustomize(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "StatefulSet"} <= kinds
    for obj in docs:
        check_object(obj)


def test_overlays_exist():
    assert set(OVERLAYS) == set(EXPECTED_OVERLAYS)


def test_kubernetes_validation_is_strict_here():
    """The core check would catch a misspelled field (it is not a no-op)."""
    (deny,) = [
        d
        for d in render_scenario("kind")
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("deny")
    ]
    bad = copy.deepcopy(deny)
    bad["spec"]["podSelectr"] = bad["spec"].pop("podSelector")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def _inference_services():
    return [
        d
        for scenario in ("kind", "canary", "shadow", "knative", "prod-like")
        for d in render_scenario(scenario)
        if d["kind"] == "InferenceService"
    ]


def test_every_inference_service_matches_the_kserve_sdk():
    services = _inference_services()
    assert len(services) >= 6
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
            lambda s: s["spec"]["canary"][0].update(trafficPrecent=5),
            r"canary\[0\]\.trafficPrecent: unknown field",
        ),
        (lambda s: s["spec"]["predictor"].update(minReplica=1), r"predictor\.minReplica: unknown field"),
        (
            lambda s: s["spec"]["transformer"]["containers"][0]["readinessProbe"]["httpGet"].update(paht="/"),
            r"httpGet\.paht: unknown field of V1HTTPGetAction",
        ),
        (lambda s: s["spec"]["predictor"].update(minReplicas="2"), r"minReplicas: expected int"),
        (lambda s: s["spec"]["canary"][0].pop("predictor"), r"canary\[0\]\.predictor: required field"),
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
    (isvc,) = [d for d in render_scenario("canary") if d["kind"] == "InferenceService"]
    broken = copy.deepcopy(isvc)
    mutate(broken)
    errors = validate_inference_service(broken)
    assert any(re.search(complaint, e) for e in errors), errors

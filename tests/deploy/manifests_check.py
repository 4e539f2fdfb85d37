"""Which schema checks each rendered object: Kubernetes' own, KServe's SDK, or a known CRD list."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from tests.deploy.kserve_strict import validate_inference_service
from tests.deploy.spark_crd import SPARK_APPLICATION, validate_spark_application

__all__ = ["CORE_GROUPS", "KNOWN_CUSTOM_KINDS", "KUBERNETES_VERSION", "check_object"]

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion >=1.29; kind pins 1.33).
KUBERNETES_VERSION = "1.33.0"
CORE_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "autoscaling", "rbac.authorization.k8s.io"}
# Custom resources with no schema available offline: their apiVersion/kind must at least be one
# of these (a typo in either fails); their fields are checked by the scenario tests.
KNOWN_CUSTOM_KINDS = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "GatewayClass"),
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy"),
    ("operator.knative.dev/v1beta1", "KnativeServing"),
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"),
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("argoproj.io/v1alpha1", "Application"),
    ("argoproj.io/v1alpha1", "AppProject"),
}


def group_of(obj: dict[str, Any]) -> str:
    api_version = obj["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def check_object(obj: dict[str, Any]) -> str:
    """Validate one object strictly; returns which validator ran. Raises on any problem."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    if group_of(obj) in CORE_GROUPS:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        return "kubernetes"
    if obj["kind"] == "InferenceService":
        errors = validate_inference_service(obj)
        if errors:
            raise AssertionError(f"{name}: " + "; ".join(errors))
        return "kserve"
    if (obj["apiVersion"], obj["kind"]) == SPARK_APPLICATION:
        errors = validate_spark_application(obj)
        if errors:
            raise AssertionError(f"{name}: " + "; ".join(errors))
        return "crd"
    if (obj["apiVersion"], obj["kind"]) not in KNOWN_CUSTOM_KINDS:
        raise AssertionError(f"{name}: unknown apiVersion/kind {obj['apiVersion']} {obj['kind']}")
    return "custom"

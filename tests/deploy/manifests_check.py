"""Which schema checks each object: Kubernetes' own, or the vendored upstream CRD (+ KServe's SDK)."""

from __future__ import annotations

import functools
import json
from typing import Any

import kubernetes_validate

from tests.deploy.crd_schema import registry
from tests.deploy.kserve_strict import validate_inference_service

__all__ = ["CORE_GROUPS", "KUBERNETES_VERSIONS", "check_object", "group_of", "object_errors", "validator_of"]

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion >=1.30: the Gateway API v1.5
# install ships an admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy, GA in 1.30) and
# the one kind runs (versions.env KIND_NODE_IMAGE).
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")
CORE_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "autoscaling", "rbac.authorization.k8s.io"}


def group_of(obj: dict[str, Any]) -> str:
    api_version = obj["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def object_errors(obj: dict[str, Any]) -> list[str]:
    """Every schema problem of one object; an empty list means the API server would accept it."""
    # Scenarios share most objects: each distinct object is validated once per session.
    return list(_cached_errors(json.dumps(obj, sort_keys=True)))


@functools.cache
def _cached_errors(text: str) -> tuple[str, ...]:
    return tuple(_errors(json.loads(text)))


def _errors(obj: dict[str, Any]) -> list[str]:
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    if group_of(obj) in CORE_GROUPS:
        errors = []
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{name} (Kubernetes {version}): {exc.message} at {list(exc.path)}")
        return errors
    errors = [f"{name}: {e}" for e in registry().errors(obj)]
    if obj.get("kind") == "InferenceService":
        errors += [f"{name} (KServe SDK): {e}" for e in validate_inference_service(obj)]
    return errors


def validator_of(obj: dict[str, Any]) -> str:
    """Which schema applies: "kubernetes", "kserve" (CRD + SDK) or "crd"."""
    if group_of(obj) in CORE_GROUPS:
        return "kubernetes"
    return "kserve" if obj["kind"] == "InferenceService" else "crd"


def check_object(obj: dict[str, Any]) -> str:
    """Validate one object strictly; returns which validator ran. Raises on any problem."""
    errors = object_errors(obj)
    if errors:
        raise AssertionError("\n".join(errors))
    return validator_of(obj)

"""Strict validation of InferenceService manifests against the KServe SDK's own models.

The SDK (``kserve.models``) is generated from KServe's OpenAPI spec: every model class lists its
fields in ``openapi_types`` (field -> type) and ``attribute_map`` (field -> JSON key). Pod-level
types come from the Kubernetes client the SDK depends on (``kubernetes.client.models``). This
walks a manifest through those tables recursively, so an unknown or misspelled key, a wrong
type or a missing required field anywhere in the tree is reported with its path.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import kserve.models as kserve_models
import kubernetes.client.models as k8s_models

__all__ = ["validate_inference_service", "validate_model"]

# Types the SDK names but does not define (they come from Kubernetes' OpenAPI under another name).
_ALIASES = {
    "K8sIoApiAppsV1DeploymentStrategy": "V1DeploymentStrategy",
    "K8sIoApiAutoscalingV2HorizontalPodAutoscalerBehavior": "V2HorizontalPodAutoscalerBehavior",
}
# Kubernetes quantities ("500m", "1Gi", 2): the client types them as str, the API accepts numbers.
_QUANTITY_TYPES = {"ResourceQuantity", "V1beta1MetricQuantity"}
_QUANTITY_FIELDS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests")}

_LIST = re.compile(r"^[Ll]ist\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\(str, (.+)\)|Dict\[str, (.+)\])$")


def _model_class(name: str) -> type | None:
    name = _ALIASES.get(name, name)
    return getattr(kserve_models, name, None) or getattr(k8s_models, name, None)


def _required_fields(cls: type) -> set[str]:
    """Fields the SDK refuses to leave empty."""
    fields = getattr(cls, "model_fields", None)
    if fields is not None:  # the Kubernetes client: pydantic models
        return {name for name, info in fields.items() if info.is_required()}
    required = set()
    for attr in cls.openapi_types:  # type: ignore[attr-defined]  # generated SDK classes carry it
        prop = getattr(cls, attr, None)
        setter = prop.fset if isinstance(prop, property) else None
        if setter is not None and "must not be `None`" in inspect.getsource(setter):
            required.add(attr)
    return required


def _is_quantity(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _check(value: Any, type_name: str, path: str, errors: list[str]) -> None:
    if type_name in _QUANTITY_TYPES:
        if not _is_quantity(value):
            errors.append(f"{path}: expected a quantity, got {type(value).__name__}")
        return
    if m := _LIST.match(type_name):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, m.group(1), f"{path}[{i}]", errors)
        return
    if m := _DICT.match(type_name):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        inner = m.group(1) or m.group(2)
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(f"{path}: key {key!r} is not a string")
            _check(item, inner, f"{path}.{key}", errors)
        return
    primitive = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if type_name in primitive:
        expected = primitive[type_name]
        if isinstance(value, bool) and type_name != "bool":
            errors.append(f"{path}: expected {type_name}, got bool")
        elif not isinstance(value, expected):  # type: ignore[arg-type]
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} ({value!r})")
        return
    if type_name == "object":  # IntOrString, free-form: any JSON value
        return
    cls = _model_class(type_name)
    if cls is None:
        errors.append(f"{path}: the SDK names type {type_name!r} but defines no model for it")
        return
    validate_model(value, cls, path, errors)


def validate_model(value: Any, cls: type, path: str, errors: list[str]) -> None:
    """Check ``value`` (parsed YAML) against one SDK model class, recursively."""
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({cls.__name__}), got {type(value).__name__}")
        return
    by_json_key = {json_key: attr for attr, json_key in cls.attribute_map.items()}  # type: ignore[attr-defined]
    for key, item in value.items():
        attr = by_json_key.get(key)
        if attr is None:
            errors.append(f"{path}.{key}: unknown field of {cls.__name__}")
            continue
        field_type = cls.openapi_types[attr]  # type: ignore[attr-defined]
        if (cls.__name__, attr) in _QUANTITY_FIELDS:
            field_type = "dict(str, ResourceQuantity)"
        if item is None:
            continue
        _check(item, field_type, f"{path}.{key}", errors)
    for attr in _required_fields(cls):
        json_key = cls.attribute_map[attr]  # type: ignore[attr-defined]
        if value.get(json_key) is None:
            errors.append(f"{path}.{json_key}: required field of {cls.__name__} is missing")


def validate_inference_service(manifest: dict[str, Any]) -> list[str]:
    """All problems of one InferenceService manifest; an empty list means it is valid."""
    errors: list[str] = []
    if (
        manifest.get("apiVersion") != "serving.kserve.io/v1beta1"
        or manifest.get("kind") != "InferenceService"
    ):
        errors.append("not a serving.kserve.io/v1beta1 InferenceService")
    validate_model(manifest, kserve_models.V1beta1InferenceService, "", errors)
    return errors

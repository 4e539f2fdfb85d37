"""Validate custom resources the way the API server does, against the vendored upstream CRDs.

tests/deploy/crds/ holds the CRDs at the pinned versions (scripts/vendor_crds.py, SOURCES.yaml).
For one object this does what kube-apiserver does on create, in the same order:

1. find the CRD and the served version of ``apiVersion``/``kind``; check the scope (a
   cluster-scoped kind takes no namespace) and ``metadata`` (ObjectMeta fields, name and label
   syntax);
2. apply the schema's ``default``s (the API server defaults before it validates, and CEL rules
   see the defaulted object);
3. structural OpenAPI v3 validation: types (``nullable``, ``x-kubernetes-int-or-string``),
   required, enum, pattern (RE2, as in Go), formats, bounds, list types (set/map uniqueness),
   ``allOf``/``anyOf``/``oneOf``/``not``; a field the schema does not declare is an error unless
   the node sets ``x-kubernetes-preserve-unknown-fields`` (the API server would drop it silently,
   or reject it under kubectl's default strict field validation); a ``null`` where the schema is
   not ``nullable`` is reported too (the API server prunes it: a template that renders one means
   something other than what it wrote);
4. every ``x-kubernetes-validations`` CEL rule that applies to a present node, with ``self`` bound
   to it (cel-python, plus the Kubernetes string extensions the vendored rules use). Transition
   rules (``oldSelf``) do not apply on create and are skipped.
"""

from __future__ import annotations

import copy
import datetime
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import re2
import yaml
from celpy import celtypes

__all__ = ["CRDS", "CrdRegistry", "CrdVersion", "registry"]

CRDS = Path(__file__).with_name("crds")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_OBJECT_META = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class CrdVersion:
    """One served version of one CRD."""

    name: str  # e.g. httproutes.gateway.networking.k8s.io
    api_version: str
    kind: str
    namespaced: bool
    schema: dict[str, Any]
    source: str  # vendored file


# --------------------------------------------------------------------------- CEL
def _string_list(values: list[str]) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(v) for v in values])


def _split(text: Any, sep: Any, limit: Any = None) -> celtypes.ListType:
    if limit is None:
        return _string_list(str(text).split(str(sep)))
    n = int(limit)
    if n == 0:
        return _string_list([])
    return _string_list(str(text).split(str(sep), n - 1 if n > 0 else -1))


# Kubernetes' CEL string library (k8s.io/apiserver/pkg/cel/library) where cel-python lacks it.
_K8S_FUNCTIONS = {
    "split": _split,
    "lowerAscii": lambda s: celtypes.StringType(str(s).lower()),
    "upperAscii": lambda s: celtypes.StringType(str(s).upper()),
    "trim": lambda s: celtypes.StringType(str(s).strip()),
    "join": lambda items, sep="": celtypes.StringType(str(sep).join(str(i) for i in items)),
    "indexOf": lambda s, sub: celtypes.IntType(str(s).find(str(sub))),
    "replace": lambda s, old, new: celtypes.StringType(str(s).replace(str(old), str(new))),
}
_CEL = celpy.Environment()


@functools.cache
def _program(rule: str) -> Any:
    return _CEL.program(_CEL.compile(rule), functions=_K8S_FUNCTIONS)


def _cel(rule: str, value: Any) -> bool:
    result = _program(rule).evaluate({"self": celpy.json_to_cel(value)})
    return bool(result)


# --------------------------------------------------------------------------- formats
def _format_ok(fmt: str, value: Any) -> bool:
    if fmt == "int32":
        return -(2**31) <= value < 2**31
    if fmt == "int64":
        return -(2**63) <= value < 2**63
    if fmt == "date-time" and isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
    return True


def _pattern(pattern: str, value: str) -> bool:
    return re2.search(pattern, value) is not None


# --------------------------------------------------------------------------- defaults
def apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """Fill the schema's defaults into ``value`` (a copy), as the API server does before validating."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out = dict(value)
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        for key, item in list(out.items()):
            if key in props:
                out[key] = apply_defaults(item, props[key])
            elif isinstance(schema.get("additionalProperties"), dict):
                out[key] = apply_defaults(item, schema["additionalProperties"])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in value]
    return value


# --------------------------------------------------------------------------- validation
class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '<root>'}: {message}")

    def _type_ok(self, value: Any, schema: dict[str, Any], path: str) -> bool:
        if value is None:
            if not schema.get("nullable"):
                self.error(path, "null is not allowed (the API server would prune it)")
            return False
        if schema.get("x-kubernetes-int-or-string"):
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self.error(path, f"expected an integer or a string, got {type(value).__name__}")
                return False
            return True
        expected = schema.get("type")
        if expected is None:
            return True
        types = _TYPES.get(expected, ())
        if isinstance(value, bool) and expected != "boolean":
            self.error(path, f"expected {expected}, got boolean")
            return False
        if expected == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if not isinstance(value, types):
            self.error(path, f"expected {expected}, got {type(value).__name__} ({value!r:.60})")
            return False
        return True

    def _scalar(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if "enum" in schema and value not in schema["enum"]:
            self.error(path, f"{value!r} is not one of {schema['enum']}")
        if isinstance(value, str):
            if "pattern" in schema and not _pattern(schema["pattern"], value):
                self.error(path, f"{value!r} does not match {schema['pattern']!r}")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.error(path, f"longer than {schema['maxLength']} characters")
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.error(path, f"shorter than {schema['minLength']} characters")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and (
                value < schema["minimum"] or (schema.get("exclusiveMinimum") and value == schema["minimum"])
            ):
                self.error(path, f"{value} is below the minimum {schema['minimum']}")
            if "maximum" in schema and (
                value > schema["maximum"] or (schema.get("exclusiveMaximum") and value == schema["maximum"])
            ):
                self.error(path, f"{value} is above the maximum {schema['maximum']}")
            quotient = value / schema["multipleOf"] if "multipleOf" in schema else 0
            if not math.isclose(quotient, round(quotient), abs_tol=1e-9):
                self.error(path, f"{value} is not a multiple of {schema['multipleOf']}")
        if "format" in schema and not _format_ok(schema["format"], value):
            self.error(path, f"{value!r} is not a valid {schema['format']}")

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: str, structural: bool) -> None:
        props = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
            "x-kubernetes-embedded-resource"
        )
        for key in schema.get("required", []):
            if key not in value:
                self.error(f"{path}.{key}" if path else key, "required field is missing")
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                self.validate(item, props[key], sub, structural)
            elif isinstance(additional, dict):
                self.validate(item, additional, sub, structural)
            elif structural and not preserve and additional is not True:
                self.error(sub, "unknown field (not in the CRD schema)")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            self.error(path, f"more than {schema['maxProperties']} properties")
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            self.error(path, f"fewer than {schema['minProperties']} properties")

    def _array(self, value: list[Any], schema: dict[str, Any], path: str, structural: bool) -> None:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.error(path, f"more than {schema['maxItems']} items")
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.error(path, f"fewer than {schema['minItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                self.validate(item, items, f"{path}[{i}]", structural)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen = [repr(v) for v in value]
            if len(seen) != len(set(seen)):
                self.error(path, "duplicate items in a list of type set")
        elif list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys", [])
            tuples = [tuple(repr(item.get(k)) for k in keys) for item in value if isinstance(item, dict)]
            if len(tuples) != len(set(tuples)):
                self.error(path, f"duplicate entries for map keys {keys}")

    def _combinators(self, value: Any, schema: dict[str, Any], path: str) -> None:
        def passes(sub: dict[str, Any]) -> bool:
            probe = _Validator()
            probe.validate(value, sub, path, structural=False)
            return not probe.errors

        for sub in schema.get("allOf", []):
            self.validate(value, sub, path, structural=False)
        if "anyOf" in schema and not any(passes(s) for s in schema["anyOf"]):
            self.error(path, "matches none of anyOf")
        if "oneOf" in schema and sum(passes(s) for s in schema["oneOf"]) != 1:
            self.error(path, "does not match exactly one of oneOf")
        if "not" in schema and passes(schema["not"]):
            self.error(path, "matches a forbidden (not) schema")

    def _rules(self, value: Any, schema: dict[str, Any], path: str) -> None:
        for rule in schema.get("x-kubernetes-validations", []):
            expression = rule["rule"]
            if "oldSelf" in expression:
                continue  # a transition rule: it only applies on update
            try:
                ok = _cel(expression, value)
            except Exception as exc:
                self.error(path, f"CEL rule {expression!r} failed to evaluate: {exc}")
                continue
            if not ok:
                where = f"{path}{rule.get('fieldPath', '')}"
                self.error(where, f"CEL rule violated: {rule.get('message') or expression}")

    def validate(self, value: Any, schema: dict[str, Any], path: str, structural: bool = True) -> None:
        if not self._type_ok(value, schema, path):
            return
        if isinstance(value, dict):
            self._object(value, schema, path, structural)
        elif isinstance(value, list):
            self._array(value, schema, path, structural)
        self._scalar(value, schema, path)
        self._combinators(value, schema, path)
        self._rules(value, schema, path)


def _metadata_errors(meta: Any, version: CrdVersion) -> list[str]:
    if not isinstance(meta, dict):
        return ["metadata: expected an object"]
    errors = [f"metadata.{k}: unknown field of ObjectMeta" for k in meta if k not in _OBJECT_META]
    name = meta.get("name", "")
    if not name or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    namespace = meta.get("namespace")
    if namespace is not None and not version.namespaced:
        errors.append(f"metadata.namespace: {version.kind} is cluster-scoped")
    if namespace is not None and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        errors.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    for field in ("labels", "annotations"):
        for key, val in (meta.get(field) or {}).items():
            prefix, _, local = key.rpartition("/")
            if (
                len(local) > 63
                or not _QUALIFIED_NAME.match(local)
                or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
            ):
                errors.append(f"metadata.{field}: invalid key {key!r}")
            if not isinstance(val, str):
                errors.append(f"metadata.{field}.{key}: value must be a string, got {type(val).__name__}")
            elif field == "labels" and (len(val) > 63 or not _LABEL_VALUE.match(val)):
                errors.append(f"metadata.labels.{key}: invalid label value {val!r}")
    return errors


class CrdRegistry:
    """The vendored CRDs by (apiVersion, kind)."""

    def __init__(self, directory: Path = CRDS) -> None:
        self.versions: dict[tuple[str, str], CrdVersion] = {}
        for path in sorted(directory.glob("*.yaml")):
            if path.name == "SOURCES.yaml":
                continue
            for crd in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
                spec = crd["spec"]
                for served in spec["versions"]:
                    if not served.get("served", True):
                        continue
                    key = (f"{spec['group']}/{served['name']}", spec["names"]["kind"])
                    self.versions[key] = CrdVersion(
                        name=crd["metadata"]["name"],
                        api_version=key[0],
                        kind=key[1],
                        namespaced=spec["scope"] == "Namespaced",
                        schema=served["schema"]["openAPIV3Schema"],
                        source=path.name,
                    )

    def knows(self, obj: dict[str, Any]) -> bool:
        return (obj.get("apiVersion"), obj.get("kind")) in self.versions

    def version_of(self, obj: dict[str, Any]) -> CrdVersion:
        return self.versions[(obj["apiVersion"], obj["kind"])]

    def errors(self, obj: dict[str, Any]) -> list[str]:
        """Every problem of one custom resource; an empty list means the API server accepts it."""
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key not in self.versions:
            return [f"no vendored CRD serves {key[0]} {key[1]}"]
        version = self.versions[key]  # type: ignore[index]  # key checked above
        errors = _metadata_errors(obj.get("metadata"), version)
        schema = version.schema
        body_schema = {**schema, "properties": dict(schema.get("properties", {}))}
        body_schema["properties"]["metadata"] = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        defaulted = apply_defaults(obj, body_schema)
        validator = _Validator()
        validator.validate(defaulted, body_schema, "")
        return errors + validator.errors


@functools.cache
def registry() -> CrdRegistry:
    """Loaded once per test session (the KServe CRD alone is ~2 MB of YAML)."""
    return CrdRegistry()

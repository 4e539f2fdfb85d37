"""Strict validation of SparkApplication manifests against the vendored Spark Operator CRD.

``tests/deploy/crds/sparkapplications.sparkoperator.k8s.io.yaml`` (kubeflow/spark-operator
v2.5.2, see ``sparkoperator.SOURCE.yaml``) is the schema the API server enforces. Its structural
OpenAPI schema is checked with ``jsonschema``, strictly as ``kubectl apply --validate=strict``
does: a field the schema does not declare is an error unless the node preserves unknown fields;
``nullable`` admits null; int-or-string nodes take either. (The CRD's CEL rules are not
evaluated here.)
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["SPARK_APPLICATION", "validate_spark_application"]

CRD_FILE = Path(__file__).with_name("crds") / "sparkapplications.sparkoperator.k8s.io.yaml"
SPARK_APPLICATION = ("sparkoperator.k8s.io/v1beta2", "SparkApplication")


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    return jsonschema.Draft7Validator(schema)


def validate_spark_application(manifest: dict[str, Any]) -> list[str]:
    """Every problem of one SparkApplication, as ``path: message``; empty when valid."""
    errors: list[str] = []
    if (manifest.get("apiVersion"), manifest.get("kind")) != SPARK_APPLICATION:
        errors.append("not a sparkoperator.k8s.io/v1beta2 SparkApplication")
    for error in sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "<root>"
        errors.append(f"{where}: {error.message}")
    return errors

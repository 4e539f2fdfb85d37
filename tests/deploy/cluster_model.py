"""What the controllers make of the objects we apply, as far as the semantic checks need it.

No cluster runs here, so the objects KServe, Knative and the Knative operator create from ours are
derived the way their controllers do it (sources named at each rule, read at the pinned versions):

- KServe, Standard mode: per component a Deployment, a Service and an HPA named
  ``<isvc>-predictor`` / ``<isvc>-transformer`` / ``<isvc>-<canary>-predictor``
  (pkg/constants/constants.go PredictorServiceName, TransformerServiceName); the Service listens on
  80 under the name of the container's first port and targets its number
  (pkg/controller/v1beta1/inferenceservice/reconcilers/service/service_reconciler.go
  createDefaultSvc); pods keep the container ports as written. A canary predictor is the stable
  predictor with the canary's fields merged over it (components/predictor.go
  buildCanaryPredictor); its replicas are ``canary.minReplicas`` or
  ceil(stable minReplicas x trafficPercent / 100), and the stable predictor's minimum drops by
  them once they are ready (canaryReplicaCount, adjustStableMinReplicasForCanaries).
- KServe, Knative mode: a Knative Service per component (same names), whose route Knative exposes
  as a Kubernetes Service of that name on port 80; Knative renames the user container's port to
  ``user-port`` (knative/serving pkg/reconciler/revision/resources/deploy.go buildContainerPorts).
- KServe's custom transformer: ``GetContainer`` appends ``--model_name <isvc>``,
  ``--predictor_host <isvc>-predictor.<ns>``, ``--http_port 8080`` and, when the component sets
  ``containerConcurrency``, ``--workers <containerConcurrency>``, each only when no argument
  starts with that flag (pkg/apis/serving/v1beta1/transformer_custom.go; utils.IncludesArg is a
  prefix match). The custom predictor's container is used as written (predictor_custom.go).
- The Knative operator: a KnativeServing with Kourier enabled installs Services ``kourier`` and
  ``kourier-internal`` (port 80) in the KnativeServing's namespace: the net-kourier manifest names
  kourier-system, but the operator injects the KnativeServing's namespace into every object
  (pkg/reconciler/knativeserving/knativeserving.go, common.InjectNamespace).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClusterView", "Pod", "transformer_args", "view"]

STANDARD_HTTP_PORT = "8080"  # constants.InferenceServiceDefaultHttpPort


@dataclass(frozen=True)
class Pod:
    """The pods of one workload, as they would run."""

    owner: str  # e.g. "InferenceService credit-scoring predictor"
    namespace: str
    labels: dict[str, str]
    containers: tuple[dict[str, Any], ...]
    min_replicas: int


@dataclass
class ClusterView:
    """Declared objects plus what the controllers derive from them, and the pods they run."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    derived: list[dict[str, Any]] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)

    def all(self) -> list[dict[str, Any]]:
        return [*self.objects, *self.derived]

    def find(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        for obj in self.all():
            meta = obj["metadata"]
            if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
                return obj
        return None

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.all() if o["kind"] == kind]


def _meta(kind: str, api_version: str, namespace: str, name: str, by: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": {"derived-from": by}},
    }


def _service(namespace: str, name: str, ports: list[dict[str, Any]], by: str) -> dict[str, Any]:
    return {**_meta("Service", "v1", namespace, name, by), "spec": {"ports": ports}}


def _includes_arg(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag) for a in args)


def transformer_args(isvc: dict[str, Any]) -> list[str]:
    """The transformer container's args after KServe's custom-transformer defaulting."""
    name, namespace = isvc["metadata"]["name"], isvc["metadata"].get("namespace", "default")
    spec = isvc["spec"]["transformer"]
    args = [str(a) for a in spec["containers"][0].get("args", [])]
    if not _includes_arg(args, "--model_name"):
        args += ["--model_name", name]
    if not _includes_arg(args, "--predictor_host"):
        args += ["--predictor_host", f"{name}-predictor.{namespace}"]
    if not _includes_arg(args, "--http_port"):
        args += ["--http_port", STANDARD_HTTP_PORT]
    if not _includes_arg(args, "--workers") and spec.get("containerConcurrency") is not None:
        args += ["--workers", str(spec["containerConcurrency"])]
    return args


def _knative_ports(containers: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    renamed = []
    for c in containers:
        c = copy.deepcopy(c)
        if c.get("ports"):
            c["ports"] = [{"name": "user-port", "containerPort": c["ports"][0]["containerPort"]}]
        renamed.append(c)
    return tuple(renamed)


def _derive_isvc(isvc: dict[str, Any], out: ClusterView) -> None:
    name, namespace = isvc["metadata"]["name"], isvc["metadata"].get("namespace", "default")
    knative = isvc["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode") == "Knative"
    by = f"InferenceService {name}"
    spec = isvc["spec"]
    components: list[tuple[str, str, dict[str, Any], int]] = []
    canaries = spec.get("canary", [])
    for component in ("predictor", "transformer"):
        if component not in spec:
            continue
        comp = copy.deepcopy(spec[component])
        if component == "transformer":
            comp["containers"][0]["args"] = transformer_args(isvc)
        minimum = int(comp.get("minReplicas", 1))
        if component == "predictor" and canaries:
            ready = sum(_canary_replicas(spec, c) for c in canaries)
            minimum = max(minimum - ready, 1)
        components.append((component, f"{name}-{component}", comp, minimum))
    for canary in canaries:
        merged = {**copy.deepcopy(spec["predictor"]), **copy.deepcopy(canary["predictor"])}
        merged["labels"] = {**spec["predictor"].get("labels", {}), **canary["predictor"].get("labels", {})}
        components.append(
            (
                "predictor",
                f"{name}-{canary['predictor']['name']}-predictor",
                merged,
                _canary_replicas(spec, canary),
            )
        )
    for component, workload, comp, minimum in components:
        containers = comp["containers"]
        labels = {
            **comp.get("labels", {}),
            "serving.kserve.io/inferenceservice": name,
            "component": component,
        }
        if knative:
            out.derived.append(_meta("Service", "serving.knative.dev/v1", namespace, workload, by))
            out.derived.append(_service(namespace, workload, [{"name": "http", "port": 80}], by))
            pod_containers = _knative_ports(containers)
        else:
            labels["app"] = f"isvc.{workload}"
            first = containers[0].get("ports", [{"name": workload, "containerPort": 8080}])[0]
            port = {"name": first.get("name"), "port": 80, "targetPort": first["containerPort"]}
            out.derived.append(_service(namespace, workload, [port], by))
            for kind, api in (("Deployment", "apps/v1"), ("HorizontalPodAutoscaler", "autoscaling/v2")):
                out.derived.append(_meta(kind, api, namespace, workload, by))
            pod_containers = tuple(copy.deepcopy(containers))
        out.pods.append(Pod(f"{by} {workload}", namespace, labels, pod_containers, minimum))


def _canary_replicas(spec: dict[str, Any], canary: dict[str, Any]) -> int:
    if canary["predictor"].get("minReplicas") is not None:
        return int(canary["predictor"]["minReplicas"])
    stable = int(spec["predictor"].get("minReplicas", 1))
    return math.ceil(stable * int(canary["trafficPercent"]) / 100)


def _derive_knative_serving(obj: dict[str, Any], out: ClusterView) -> None:
    if not obj.get("spec", {}).get("ingress", {}).get("kourier", {}).get("enabled"):
        return
    namespace = obj["metadata"]["namespace"]
    ports = [{"name": "http2", "port": 80}, {"name": "https", "port": 443}]
    for service in ("kourier", "kourier-internal"):
        out.derived.append(_service(namespace, service, ports, f"KnativeServing {obj['metadata']['name']}"))


def _workload_pods(obj: dict[str, Any]) -> Pod | None:
    kind = obj["kind"]
    if kind not in ("Deployment", "StatefulSet"):
        return None
    template = obj["spec"]["template"]
    return Pod(
        f"{kind} {obj['metadata']['name']}",
        obj["metadata"].get("namespace", "default"),
        dict(template["metadata"].get("labels", {})),
        tuple(template["spec"]["containers"]),
        int(obj["spec"].get("replicas", 1)),
    )


def view(*groups: Iterable[dict[str, Any]]) -> ClusterView:
    """The cluster after applying every group of objects (chart, install manifests, overlays)."""
    out = ClusterView()
    for group in groups:
        for obj in group:
            out.objects.append(obj)
            if obj["kind"] == "InferenceService":
                _derive_isvc(obj, out)
            elif obj["kind"] == "KnativeServing":
                _derive_knative_serving(obj, out)
            elif (pod := _workload_pods(obj)) is not None:
                out.pods.append(pod)
    return out

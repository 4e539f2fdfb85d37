"""Checks schemas cannot make: do the references between objects resolve in the cluster they land in?

Each check takes a ``ClusterView`` (declared objects + what the controllers derive, see
cluster_model.py) and returns its problems as strings; an empty list means it holds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.deploy.cluster_model import ClusterView, Pod

__all__ = [
    "duplicate_objects",
    "monitor_problems",
    "pdb_problems",
    "policy_target_problems",
    "route_problems",
]

CLUSTER_SCOPED = {
    "Namespace",
    "GatewayClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
}


def _ns(obj: dict[str, Any]) -> str | None:
    return None if obj["kind"] in CLUSTER_SCOPED else obj["metadata"].get("namespace")


def duplicate_objects(view: ClusterView) -> list[str]:
    """No two objects (declared or created by a controller) share apiVersion group, kind, namespace, name."""
    keys = Counter(
        (o["apiVersion"].rpartition("/")[0], o["kind"], _ns(o), o["metadata"]["name"]) for o in view.all()
    )
    return [
        f"{kind} {ns}/{name} ({group or 'core'}) exists {n} times"
        for (group, kind, ns, name), n in keys.items()
        if n > 1
    ]


# --------------------------------------------------------------------------- label selectors
def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _selected_pods(view: ClusterView, namespaces: set[str] | None, selector: dict[str, Any]) -> list[Pod]:
    return [
        p
        for p in view.pods
        if (namespaces is None or p.namespace in namespaces) and _matches(selector, p.labels)
    ]


# --------------------------------------------------------------------------- routes
def _listener_admits(listener: dict[str, Any], route_ns: str, gateway_ns: str) -> bool:
    allowed = listener.get("allowedRoutes", {}).get("namespaces", {}).get("from", "Same")
    if allowed == "All":
        return True
    if allowed == "Same":
        return route_ns == gateway_ns
    return False  # Selector: the tests keep to All/Same


def _hostnames_meet(listener: dict[str, Any], route: dict[str, Any]) -> bool:
    wanted = listener.get("hostname")
    names = route["spec"].get("hostnames", [])
    if not wanted or not names:
        return True
    return any(name == wanted or (wanted.startswith("*.") and name.endswith(wanted[1:])) for name in names)


def _granted(view: ClusterView, route_ns: str, target_ns: str, name: str) -> bool:
    for grant in view.of_kind("ReferenceGrant"):
        if grant["metadata"].get("namespace") != target_ns:
            continue
        froms = grant["spec"]["from"]
        tos = grant["spec"]["to"]
        if any(f["kind"] == "HTTPRoute" and f["namespace"] == route_ns for f in froms) and any(
            t.get("group", "") == "" and t["kind"] == "Service" and t.get("name", name) == name for t in tos
        ):
            return True
    return False


def route_problems(view: ClusterView) -> list[str]:
    """Every HTTPRoute's parents (Gateway + listener) and backends (Service + port) exist and admit it."""
    problems = []
    for route in view.of_kind("HTTPRoute"):
        rns, rname = route["metadata"]["namespace"], route["metadata"]["name"]
        where = f"HTTPRoute {rns}/{rname}"
        for ref in route["spec"].get("parentRefs", []):
            gns = ref.get("namespace", rns)
            gateway = view.find("Gateway", gns, ref["name"])
            if gateway is None:
                problems.append(f"{where}: parent Gateway {gns}/{ref['name']} does not exist")
                continue
            listeners = [
                lst
                for lst in gateway["spec"]["listeners"]
                if ref.get("sectionName") in (None, lst["name"]) and ref.get("port") in (None, lst["port"])
            ]
            if not listeners:
                problems.append(
                    f"{where}: Gateway {gns}/{ref['name']} has no listener {ref.get('sectionName')!r} "
                    f"(listeners: {[lst['name'] for lst in gateway['spec']['listeners']]})"
                )
            elif not any(
                _listener_admits(lst, rns, gns) and _hostnames_meet(lst, route) for lst in listeners
            ):
                problems.append(f"{where}: no listener of Gateway {gns}/{ref['name']} admits the route")
        for i, rule in enumerate(route["spec"].get("rules", [])):
            for backend in rule.get("backendRefs", []):
                if backend.get("kind", "Service") != "Service" or backend.get("group", "") != "":
                    continue
                bns = backend.get("namespace", rns)
                service = view.find("Service", bns, backend["name"])
                if service is None:
                    problems.append(
                        f"{where} rule {i}: backend Service {bns}/{backend['name']} does not exist"
                    )
                    continue
                if backend.get("port") not in {p["port"] for p in service["spec"]["ports"]}:
                    problems.append(
                        f"{where} rule {i}: Service {bns}/{backend['name']} has no port {backend.get('port')}"
                    )
                if bns != rns and not _granted(view, rns, bns, backend["name"]):
                    problems.append(
                        f"{where} rule {i}: no ReferenceGrant in {bns} admits Service {backend['name']}"
                    )
    return problems


def policy_target_problems(view: ClusterView) -> list[str]:
    """Envoy Gateway policies target routes that exist in their namespace."""
    problems = []
    for kind in ("SecurityPolicy", "BackendTrafficPolicy", "ClientTrafficPolicy"):
        for policy in view.of_kind(kind):
            ns = policy["metadata"]["namespace"]
            for target in policy["spec"].get("targetRefs", []):
                if view.find(target["kind"], ns, target["name"]) is None:
                    problems.append(
                        f"{kind} {ns}/{policy['metadata']['name']}: no {target['kind']} {target['name']}"
                    )
    return problems


# --------------------------------------------------------------------------- monitoring
def _port_names(pod: Pod) -> set[str]:
    return {p["name"] for c in pod.containers for p in c.get("ports", []) if p.get("name")}


def monitor_problems(view: ClusterView) -> list[str]:
    """Each PodMonitor/ServiceMonitor selects something, and its ports exist on what it selects."""
    problems = []
    for monitor in view.of_kind("PodMonitor"):
        ns = monitor["metadata"]["namespace"]
        spec = monitor["spec"]
        namespaces = set(spec.get("namespaceSelector", {}).get("matchNames", [ns]))
        pods = _selected_pods(view, namespaces, spec["selector"])
        where = f"PodMonitor {ns}/{monitor['metadata']['name']}"
        if not pods:
            problems.append(f"{where} selects no pods")
        for endpoint in spec.get("podMetricsEndpoints", []):
            for pod in pods:
                if endpoint.get("port") not in _port_names(pod):
                    problems.append(
                        f"{where}: port {endpoint.get('port')!r} is not a port of {pod.owner} "
                        f"(it has {sorted(_port_names(pod))})"
                    )
    for monitor in view.of_kind("ServiceMonitor"):
        ns = monitor["metadata"]["namespace"]
        spec = monitor["spec"]
        namespaces = set(spec.get("namespaceSelector", {}).get("matchNames", [ns]))
        services = [
            s
            for s in view.of_kind("Service")
            if s["metadata"].get("namespace") in namespaces
            and _matches(spec["selector"], s["metadata"].get("labels", {}))
        ]
        where = f"ServiceMonitor {ns}/{monitor['metadata']['name']}"
        if not services:
            problems.append(f"{where} selects no Services")
        for endpoint in spec.get("endpoints", []):
            for service in services:
                names = {p.get("name") for p in service["spec"]["ports"]}
                if endpoint.get("port") not in names:
                    problems.append(
                        f"{where}: Service {service['metadata']['name']} has no port {endpoint.get('port')!r}"
                    )
    return problems


# --------------------------------------------------------------------------- disruption budgets
def pdb_problems(view: ClusterView) -> list[str]:
    """A PDB selects pods and leaves at least one evictable at the workloads' minimum size."""
    problems = []
    for pdb in view.of_kind("PodDisruptionBudget"):
        ns = pdb["metadata"].get("namespace")
        where = f"PodDisruptionBudget {ns}/{pdb['metadata']['name']}"
        if ns is None:
            problems.append(f"{where} has no namespace")
            continue
        pods = _selected_pods(view, {ns}, pdb["spec"]["selector"])
        if not pods:
            problems.append(f"{where} selects no pods")
            continue
        minimum = sum(p.min_replicas for p in pods)
        keep = pdb["spec"].get("minAvailable")
        if isinstance(keep, int) and keep >= minimum:
            problems.append(
                f"{where}: minAvailable {keep} with {minimum} pod(s) at minimum blocks node drains"
            )
    return problems

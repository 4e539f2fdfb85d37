#!/usr/bin/env python3
"""Re-extract the upstream CRDs the repository renders into tests/deploy/crds/ (maintainers only).

The packaging tests validate every chart scenario, overlay and GitOps/install manifest against
these schemas offline; this script is how they are refreshed after a version bump in
manifests/install/versions.env (or ARGOCD_VERSION there). It never runs at test time.

Each CRD is taken verbatim from its upstream release (repository, tag, path), with one change to
keep the files small: the ``description`` of every schema node is dropped (descriptions carry no
validation). tests/deploy/crds/SOURCES.yaml records, per file, the repository, the pinned
version, the ref and commit actually read, the upstream path and the SHA-256 of the vendored text
(the tests check the files were not edited by hand).

Usage:
  scripts/vendor_crds.py                       # GitHub over HTTPS at the pinned tags
  scripts/vendor_crds.py --mirror DIR          # local bare clones DIR/<owner>+<name>/repo
  scripts/vendor_crds.py --ref kserve/kserve=<commit> --note kserve/kserve="why"
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "deploy" / "crds"
VERSIONS = ROOT / "manifests" / "install" / "versions.env"


@dataclass(frozen=True)
class Source:
    """One upstream file holding one or more CRDs the repository renders."""

    repo: str
    version_key: str  # key in versions.env
    tag: str  # format string over the version, e.g. "knative-{version}"
    path: str
    crds: tuple[str, ...]  # CRD names kept from the file


_GATEWAY_API = "config/crd/standard/gateway.networking.k8s.io_{}.yaml"
_ENVOY_GATEWAY = "charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_{}.yaml"
_KPS_CRDS = "charts/kube-prometheus-stack/charts/crds/crds/crd-{}.yaml"

SOURCES = (
    # The kserve-crd chart is what scripts/install-platform.sh and the GitOps app install.
    Source(
        "kserve/kserve",
        "KSERVE_VERSION",
        "{version}",
        "charts/kserve-crd/templates/serving.kserve.io_inferenceservices.yaml",
        ("inferenceservices.serving.kserve.io",),
    ),
    *(
        Source(
            "kubernetes-sigs/gateway-api",
            "GATEWAY_API_VERSION",
            "{version}",
            _GATEWAY_API.format(plural),
            (f"{plural}.gateway.networking.k8s.io",),
        )
        for plural in ("gatewayclasses", "gateways", "httproutes", "referencegrants")
    ),
    *(
        Source(
            "envoyproxy/gateway",
            "ENVOY_GATEWAY_VERSION",
            "{version}",
            _ENVOY_GATEWAY.format(plural),
            (f"{plural}.gateway.envoyproxy.io",),
        )
        for plural in ("securitypolicies", "backendtrafficpolicies", "envoyproxies")
    ),
    # prometheus-operator's CRDs as the pinned kube-prometheus-stack chart ships them.
    *(
        Source(
            "prometheus-community/helm-charts",
            "KUBE_PROMETHEUS_STACK_VERSION",
            "kube-prometheus-stack-{version}",
            _KPS_CRDS.format(plural),
            (f"{plural}.monitoring.coreos.com",),
        )
        for plural in ("podmonitors", "servicemonitors", "prometheusrules")
    ),
    *(
        Source(
            "argoproj/argo-cd",
            "ARGOCD_VERSION",
            "{version}",
            f"manifests/crds/{name}-crd.yaml",
            (f"{plural}.argoproj.io",),
        )
        for name, plural in (("application", "applications"), ("appproject", "appprojects"))
    ),
    Source(
        "knative/operator",
        "KNATIVE_OPERATOR_VERSION",
        "knative-{version}",
        "config/crd/bases/operator.knative.dev_knativeservings.yaml",
        ("knativeservings.operator.knative.dev",),
    ),
    # The portfolio batch job's SparkApplication (charts/credit-scoring/templates/batch.yaml), as
    # the Spark Operator's chart installs the CRD.
    Source(
        "kubeflow/spark-operator",
        "SPARK_OPERATOR_VERSION",
        "{version}",
        "charts/spark-operator-chart/crds/sparkoperator.k8s.io_sparkapplications.yaml",
        ("sparkapplications.sparkoperator.k8s.io",),
    ),
)

# Keywords of an OpenAPI v3 schema node whose values are schemas (or maps/lists of schemas).
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONES = ("not", "additionalItems")


def versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in VERSIONS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def strip_descriptions(schema: Any) -> Any:
    """Drop ``description`` from every schema node (never a property that is named so)."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k != "description"}
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: strip_descriptions(sub) for name, sub in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [strip_descriptions(sub) for sub in out[key]]
    for key in _SCHEMA_ONES:
        if isinstance(out.get(key), dict):
            out[key] = strip_descriptions(out[key])
    if isinstance(out.get("items"), dict):
        out["items"] = strip_descriptions(out["items"])
    elif isinstance(out.get("items"), list):
        out["items"] = [strip_descriptions(sub) for sub in out["items"]]
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strip_descriptions(out["additionalProperties"])
    return out


class Upstream:
    """Reads files at a ref: from local bare clones, else from GitHub over HTTPS."""

    def __init__(self, mirror: Path | None) -> None:
        self.mirror = mirror

    def _git(self, repo: str, *args: str) -> str:
        assert self.mirror is not None
        git_dir = self.mirror / repo.replace("/", "+") / "repo"
        return subprocess.run(
            ["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=True
        ).stdout

    def read(self, repo: str, ref: str, path: str) -> str:
        if self.mirror is not None:
            return self._git(repo, "show", f"{ref}:{path}")
        url = f"https://raw.githubusercontent.com/{repo}/{ref}/{path}"
        with urllib.request.urlopen(url, timeout=60) as reply:
            return str(reply.read().decode())

    def commit(self, repo: str, ref: str) -> str:
        if self.mirror is not None:
            return self._git(repo, "rev-parse", f"{ref}^{{commit}}").strip()
        out = subprocess.run(
            ["git", "ls-remote", f"https://github.com/{repo}.git", f"{ref}^{{}}", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return out[0] if out else ref


def _document(text: str, name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(text):
        if doc and doc.get("kind") == "CustomResourceDefinition" and doc["metadata"]["name"] == name:
            return dict(doc)
    raise SystemExit(f"{name} not found upstream")


def vendor(upstream: Upstream, refs: dict[str, str], notes: dict[str, str]) -> None:
    pinned = versions()
    OUT.mkdir(parents=True, exist_ok=True)
    records = []
    for source in SOURCES:
        version = pinned[source.version_key]
        tag = source.tag.format(version=version)
        ref = refs.get(source.repo, tag)
        text = upstream.read(source.repo, ref, source.path)
        commit = upstream.commit(source.repo, ref)
        for name in source.crds:
            crd = _document(text, name)
            for served in crd["spec"]["versions"]:
                schema = served.get("schema", {}).get("openAPIV3Schema")
                if schema is not None:
                    served["schema"]["openAPIV3Schema"] = strip_descriptions(schema)
            body = (
                f"# {name}: {source.repo} {ref} ({commit}) {source.path}\n"
                "# Generated by scripts/vendor_crds.py (schema descriptions dropped); do not edit.\n"
                + yaml.safe_dump(crd, sort_keys=False, width=1000)
            )
            (OUT / f"{name}.yaml").write_text(body)
            record = {
                "file": f"{name}.yaml",
                "repo": source.repo,
                "pinned": f"{source.version_key}={version}",
                "tag": tag,
                "ref": ref,
                "commit": commit,
                "path": source.path,
                "sha256": hashlib.sha256(body.encode()).hexdigest(),
            }
            if source.repo in notes:
                record["note"] = notes[source.repo]
            records.append(record)
            print(f"{name}: {source.repo}@{ref} {source.path}", file=sys.stderr)
    header = (
        "# Where each vendored CRD comes from (written by scripts/vendor_crds.py).\n"
        "# tag: the release the pin in manifests/install/versions.env names; ref: what was read.\n"
    )
    (OUT / "SOURCES.yaml").write_text(header + yaml.safe_dump({"crds": records}, sort_keys=False, width=1000))


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag} takes OWNER/NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--mirror", type=Path, help="directory of bare clones <owner>+<name>/repo")
    parser.add_argument(
        "--ref", action="append", default=[], help="OWNER/NAME=REF: read this ref instead of the pinned tag"
    )
    parser.add_argument(
        "--note", action="append", default=[], help="OWNER/NAME=TEXT: why --ref differs from the pin"
    )
    args = parser.parse_args(argv)
    refs, notes = _pairs(args.ref, "--ref"), _pairs(args.note, "--note")
    if set(refs) != set(notes):
        raise SystemExit("every --ref needs a --note saying why it differs from the pinned release")
    vendor(Upstream(args.mirror), refs, notes)


if __name__ == "__main__":
    main()

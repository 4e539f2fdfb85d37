"""Render the chart and the kustomize overlays with the pinned tools (``make tools``)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CHART",
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
    "tool",
]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "credit-scoring"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))
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


@functools.cache
def render_scenario(scenario: str) -> tuple[dict[str, Any], ...]:
    """One ci/<scenario>-values.yaml rendered (cached: the documents are read-only by convention)."""
    return tuple(render(values=(str(CHART / "ci" / f"{scenario}-values.yaml"),)))


@functools.cache
def kustomize(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(_documents(kubectl("kustomize", str(ROOT / "manifests" / "overlays" / overlay))))

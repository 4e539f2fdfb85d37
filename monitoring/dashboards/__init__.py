"""Grafana dashboards (service, model, drift), generated as JSON for the Grafana sidecar.

``python -m monitoring.dashboards [DIR]`` writes ``credit-scoring-{service,model,drift}.json``
into ``DIR`` (default ``charts/credit-scoring/files/dashboards``, which the chart turns into
ConfigMaps). The committed files are this package's output; a test keeps them in sync, and
another runs every panel's PromQL against a real Prometheus that scraped the running services.
Metric names are the contract in docs/architecture.md. One module per dashboard; the shared
building blocks are in ``grafana``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitoring.dashboards.drift import drift
from monitoring.dashboards.model import model
from monitoring.dashboards.service import service

__all__ = ["DASHBOARDS", "DEFAULT_DIR", "build", "write"]

DEFAULT_DIR = Path("charts/credit-scoring/files/dashboards")

DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "credit-scoring-service.json": service,
    "credit-scoring-model.json": model,
    "credit-scoring-drift.json": drift,
}


def build() -> dict[str, str]:
    """File name -> JSON text (stable formatting, so the committed files diff cleanly)."""
    return {name: json.dumps(make(), indent=2, sort_keys=True) + "\n" for name, make in DASHBOARDS.items()}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in build().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written

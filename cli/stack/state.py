"""What ``stack up`` started, kept in ``state.json`` so ``status`` and ``down`` work from any shell.

Each process is recorded with its pid and the kernel's start time (``Supervised.record``), so
``down`` stops exactly the processes ``up`` started, never a later process that got the same pid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cli.stack.supervisor import Supervised

__all__ = ["StackProcess", "StackState", "describe", "load_state", "save_state"]


@dataclass
class StackProcess:
    """One process of the stack: the supervised process and where it answers."""

    process: Supervised
    url: str = ""
    ready_path: str = ""

    @property
    def name(self) -> str:
        return self.process.name

    def alive(self) -> bool:
        return self.process.alive()

    def ready(self) -> bool:
        if not self.ready_path:
            return self.alive()
        try:
            return httpx.get(f"{self.url}{self.ready_path}", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {**self.process.record(), "url": self.url, "ready_path": self.ready_path}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StackProcess:
        return cls(Supervised.attach(raw), raw.get("url", ""), raw.get("ready_path", ""))


@dataclass
class StackState:
    processes: list[StackProcess] = field(default_factory=list)
    transformer_url: str = ""
    feature_store: str = ""
    mlflow_tracking_uri: str = ""

    def find(self, name: str) -> StackProcess:
        return next(p for p in self.processes if p.name == name)

    def to_json(self) -> str:
        return json.dumps(
            {
                "processes": [p.to_dict() for p in self.processes],
                "transformer_url": self.transformer_url,
                "feature_store": self.feature_store,
                "mlflow_tracking_uri": self.mlflow_tracking_uri,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> StackState:
        raw = json.loads(text)
        return cls(
            processes=[StackProcess.from_dict(p) for p in raw.get("processes", [])],
            transformer_url=raw.get("transformer_url", ""),
            feature_store=raw.get("feature_store", ""),
            mlflow_tracking_uri=raw.get("mlflow_tracking_uri", ""),
        )


def load_state(path: Path) -> StackState | None:
    try:
        return StackState.from_json(path.read_text())
    except FileNotFoundError:
        return None


def save_state(path: Path, state: StackState) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def describe(state: StackState) -> dict[str, Any]:
    """A JSON-able summary for ``stack status --json``."""
    return {
        "transformer_url": state.transformer_url,
        "feature_store": state.feature_store,
        "mlflow_tracking_uri": state.mlflow_tracking_uri,
        "processes": [{**p.to_dict(), "alive": p.alive(), "ready": p.ready()} for p in state.processes],
    }

"""Lineage of a model version: which code built it, from which data.

- **Code**: the git commit of the checkout training ran from (``git rev-parse HEAD``) and whether
  the work tree had uncommitted changes; in an image without ``.git``, ``CREDIT_CODE_COMMIT``
  (set at image build). ``unknown`` otherwise: never a guess.
- **Data**: SHA-256 of the point-in-time training frame (every row of train, validation and
  test, the columns training read, in a fixed order): the same offline tables and Feast
  definitions give the same hash, and any change to a value, a row or the split inputs changes it.
  The two offline Parquet tables are hashed too (their bytes), so a reviewer can match files.

Stored on the registered version as tags (``code_commit``, ``code_dirty``,
``training_data_sha256``) and in its evidence artifact.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Lineage", "code_commit", "frame_sha256", "lineage"]

_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lineage:
    code_commit: str
    code_dirty: bool | None
    training_data_sha256: str
    training_rows: int
    source_files: dict[str, str] = field(default_factory=dict)
    """Offline table name -> SHA-256 of its bytes."""

    def as_tags(self) -> dict[str, str]:
        return {
            "code_commit": self.code_commit,
            "code_dirty": "unknown" if self.code_dirty is None else str(self.code_dirty).lower(),
            "training_data_sha256": self.training_data_sha256,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_commit() -> tuple[str, bool | None]:
    """(commit, dirty) of the code training runs from; ``("unknown", None)`` when nobody knows."""
    commit = _git("rev-parse", "HEAD")
    if commit:
        status = _git("status", "--porcelain", "--untracked-files=no")
        return commit, None if status is None else bool(status)
    return os.environ.get("CREDIT_CODE_COMMIT") or "unknown", None


def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 over the frame's values, columns sorted by name, rows in their order."""
    ordered = frame[sorted(frame.columns)]
    digest = hashlib.sha256()
    digest.update(",".join(ordered.columns).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lineage(frame: pd.DataFrame, source_files: list[Path] | None = None) -> Lineage:
    commit, dirty = code_commit()
    files = {p.name: _file_sha256(p) for p in source_files or [] if p.is_file()}
    return Lineage(commit, dirty, frame_sha256(frame), len(frame), files)

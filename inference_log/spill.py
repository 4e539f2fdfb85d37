"""The local spill file: where records go when memory is full or the database is down.

A full spill has one defined behaviour, whether the directory reached ``max_bytes`` (the cap,
set below the volume's size so the kubelet never evicts the pod for it, which would lose every
spilled record) or the file system itself refused the write (disk full, file size limit): the
batch is refused whole (``SpillFull`` or the ``OSError``), and a partly written batch is cut off
again, so a refused record is counted dropped once and never also replayed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["SpillFile", "SpillFull", "read_spill"]


class SpillFull(OSError):
    """The spill directory already holds ``max_bytes``: this batch is refused whole."""


class SpillFile:
    """Append-only JSON-lines files in one directory, safe for several processes.

    The active file is ``spill-<unique>.jsonl``, flock-ed while its writer lives; replay first
    renames it to ``replay-<unique>.jsonl`` so new spills never mix with a file being replayed.
    A ``spill-*`` file nobody holds a lock on belongs to a dead process and is claimed too.
    """

    def __init__(self, directory: Path, max_bytes: int | None = None) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None
        self._path: Path | None = None

    def size(self) -> int:
        """Bytes of spilled records waiting in the directory (every writer's, replays included)."""
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in (*self.directory.glob("spill-*.jsonl"), *self.directory.glob("replay-*.jsonl")):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def append(self, rows: Iterable[dict[str, Any]]) -> int:
        data = b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in rows)
        n = data.count(b"\n")
        with self._lock:
            if self.max_bytes is not None:
                held = self.size()
                if held + len(data) > self.max_bytes:
                    raise SpillFull(
                        f"spill directory {self.directory} holds {held} bytes, the cap is {self.max_bytes}"
                    )
            if self._handle is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
                # Lock under a name no other writer looks at, then publish it: a ``spill-*``
                # file is never visible unlocked while its writer lives.
                hidden = self.directory / f".new-{name}"
                # Unbuffered: a failed write leaves nothing queued in a buffer to retry later.
                self._handle = hidden.open("ab", buffering=0)
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._path = self.directory / f"spill-{name}"
                hidden.rename(self._path)
            fd = self._handle.fileno()
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:  # a full disk can take part of a write before it refuses the rest
                    view = view[os.write(fd, view) :]
                # fsync: a spilled record must survive the pod being killed right after.
                os.fsync(fd)
            except OSError:
                # Cut the half-written batch off (shrinking needs no space), so its records are
                # dropped once, not replayed as well.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        return n

    def claim(self) -> list[Path]:
        """Files ready to replay: our own active file (rotated) plus orphans of dead writers."""
        if not self.directory.is_dir():
            return []
        with self._lock:
            if self._handle is not None and self._path is not None:
                # Rename while still holding the lock, so no other process claims it meanwhile.
                self._path.rename(self._path.with_name("replay-" + self._path.name[len("spill-") :]))
                self._handle.close()
                self._handle = self._path = None
        for orphan in self.directory.glob("spill-*.jsonl"):
            with contextlib.suppress(OSError), orphan.open("ab") as probe:
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if alive
                orphan.rename(orphan.with_name("replay-" + orphan.name[len("spill-") :]))
        return sorted(self.directory.glob("replay-*.jsonl"))

    def pending(self) -> bool:
        """Spilled records wait here (``.new-*`` files are never written to before they are published)."""
        if not self.directory.is_dir():
            return False
        return any(self.directory.glob("spill-*.jsonl")) or any(self.directory.glob("replay-*.jsonl"))

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def read_spill(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of a spill file, and how many lines were unreadable (a write torn by a crash)."""
    rows: list[dict[str, Any]] = []
    bad = 0
    with path.open("rb") as src:
        for line in src:
            try:
                row = orjson.loads(line)
                row["logged_at"] = datetime.fromisoformat(row["logged_at"])
                rows.append(row)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                bad += 1
    return rows, bad

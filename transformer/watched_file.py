"""A mounted file, or a directory of files, read at start and again when it changes.

Both credentials of the transformer (API-key hashes, a JWKS) come from files that Kubernetes
mounts from a Secret or ConfigMap and swaps in place by renaming a symlink. The change shows in
the directory and in the file reached through the symlink (a new inode), so the stamp takes
modification time, inode and size of the path, of its directory and, for a directory, of each
visible file in it. The stamp is checked at most once per ``check_seconds`` by one caller at a
time (the others go on with the last value); a changed file is read again, and one that cannot
be read or parsed keeps the last good value (logged). At start a missing or invalid file raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

__all__ = ["WatchedFile", "visible_files"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


def visible_files(path: Path) -> list[Path]:
    """The files of ``path``: itself, or a directory's files but the volume's own hidden entries
    (``..data``, ``..2026_...``)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    return [path]


def _stamp(path: Path) -> tuple[int, ...]:
    entries = [path, path.parent, *(visible_files(path) if path.is_dir() else [])]
    stamp: list[int] = []
    for entry in entries:
        stat = entry.stat()
        stamp += (stat.st_mtime_ns, stat.st_ino, stat.st_size)
    return tuple(stamp)


class WatchedFile(Generic[T]):
    """``load(path)``, kept current: ``value`` re-reads the file when its stamp has changed."""

    def __init__(self, path: Path, load: Callable[[Path], T], what: str, check_seconds: float = 1.0) -> None:
        self.path = path
        self.what = what
        self.check_seconds = check_seconds
        self._load = load
        self._stamp = _stamp(path)
        self._value = load(path)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def value(self) -> T:
        self._reload_if_changed()
        return self._value

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_seconds or not self._lock.acquire(blocking=False):
            return
        try:
            self._checked = now
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                self._value = self._load(self.path)
                self._stamp = stamp
                logger.info("%s reloaded from %s", self.what, self.path)
        except (OSError, ValueError) as exc:
            logger.warning("%s at %s unusable (%s): keeping the last good ones", self.what, self.path, exc)
        finally:
            self._lock.release()

"""API keys of the transformer: stored and compared only as hashes, reloaded when they change.

The key file (or each file of a mounted Secret directory) holds one key per line as
``client:sha256-hex`` (or a bare ``sha256-hex``, whose client is the file's name); ``#`` starts a
comment. A client may have several lines: during a rotation the old and the new key are both
valid until the old line is removed. The transformer never sees a plaintext key except in the
request that carries it: it hashes what the caller sent and compares it with every stored hash
in constant time (``hmac.compare_digest``, no early exit).

The file is checked for changes (modification times, the directory's too: Kubernetes swaps a
Secret's files by renaming a symlink) at most once per ``check_seconds``; a changed file is read
again and replaces the keys, an unreadable one keeps the last good keys (logged).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from credit_scoring.errors import Unauthenticated
from transformer.rate_limit import RateLimiter

__all__ = ["ApiKeys", "Authenticator", "hash_key", "read_key_hashes"]

logger = logging.getLogger(__name__)

_HEX = re.compile(r"^[0-9a-f]{64}$")
_CLIENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BEARER = b"bearer "
_MAX_CLIENT_NAME = 256


def hash_key(key: str) -> str:
    """The stored form of an API key: SHA-256, lower-case hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        # Hidden entries are the Secret volume's own (``..data``, ``..2026_...``).
        return sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
    return [path]


def read_key_hashes(path: Path) -> list[tuple[str, str]]:
    """``(client, sha256-hex)`` pairs from a key file or a directory of them; a malformed line is
    skipped and logged by file and line number (never its content)."""
    pairs: list[tuple[str, str]] = []
    for file in _files(path):
        for number, raw in enumerate(file.read_text().splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            client, _, digest = line.rpartition(":")
            client = client.strip() or file.name
            digest = digest.strip().lower()
            if not _HEX.match(digest) or not _CLIENT.match(client):
                logger.warning("%s line %d: not client:sha256-hex, ignored", file, number)
                continue
            pairs.append((client, digest))
    return pairs


def _stamp(path: Path) -> tuple[float, ...]:
    stamps = [path.stat().st_mtime]
    if path.is_dir():
        stamps += [p.stat().st_mtime for p in _files(path)]
    return tuple(stamps)


@dataclass
class ApiKeys:
    """The valid key hashes per client, from ``path``, re-read when it changes."""

    path: Path
    check_seconds: float = 1.0
    _pairs: list[tuple[str, str]] = field(default_factory=list, init=False)
    _stamp: tuple[float, ...] = field(default=(), init=False)
    _checked: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        # At start-up a missing or unreadable file is fatal (raised), later only logged.
        self._stamp = _stamp(self.path)
        self._pairs = read_key_hashes(self.path)
        self._checked = time.monotonic()

    @property
    def clients(self) -> list[str]:
        return sorted({client for client, _ in self._pairs})

    def __len__(self) -> int:
        return len(self._pairs)

    def client_for(self, key: str) -> str | None:
        """The client whose key this is, or None."""
        self._reload_if_changed()
        digest = hash_key(key)
        found = None
        for client, stored in self._pairs:
            if hmac.compare_digest(stored, digest):
                found = client
        return found

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_seconds or not self._lock.acquire(blocking=False):
            return
        try:
            self._checked = now
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                self._pairs = read_key_hashes(self.path)
                self._stamp = stamp
                clients = len(self.clients)
                logger.info("API keys reloaded from %s: %d keys, %d clients", self.path, len(self), clients)
        except OSError as exc:
            logger.warning("API keys at %s unreadable (%s): keeping the %d loaded", self.path, exc, len(self))
        finally:
            self._lock.release()


def _credentials(headers: Mapping[bytes, bytes], header: bytes) -> Iterator[bytes]:
    value = headers.get(header)
    if value:
        yield value
    authorization = headers.get(b"authorization")
    if authorization and authorization[:7].lower() == _BEARER:
        yield authorization[7:].strip()


@dataclass
class Authenticator:
    """The transformer's ``serving.admission.Guard``: a valid API key (``header`` or
    ``Authorization: Bearer``), then the client's rate limit. ``keys`` None: authentication off;
    the client is then what the gateway wrote into ``client_header`` (trusted like the gateway
    itself), else ``anonymous``."""

    keys: ApiKeys | None
    header: bytes = b"x-api-key"
    limiter: RateLimiter | None = None
    client_header: bytes = b""

    def __call__(self, headers: Mapping[bytes, bytes]) -> None:
        client = self.client(headers)
        if self.limiter is not None:
            self.limiter.take(client)

    def client(self, headers: Mapping[bytes, bytes]) -> str:
        if self.keys is None:
            named = headers.get(self.client_header) if self.client_header else None
            # Bounded: the name keys a bucket, and a bucket lives a minute after its last use.
            return named[:_MAX_CLIENT_NAME].decode("latin-1") if named else "anonymous"
        for key in _credentials(headers, self.header):
            client = self.keys.client_for(key.decode("latin-1"))
            if client is not None:
                return client
        raise Unauthenticated()

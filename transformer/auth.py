"""API keys of the transformer, stored and compared only as hashes and reloaded when they
change, and the guard that checks them (or a JWT instead: ``transformer.jwt_auth``).

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from credit_scoring.errors import RateLimited, Unauthenticated
from transformer.jwt_auth import JwtVerifier
from transformer.metrics import REFUSED
from transformer.rate_limit import RateLimiter
from transformer.watched_file import WatchedFile, visible_files

__all__ = ["ApiKeys", "Authenticator", "hash_key", "read_key_hashes"]

logger = logging.getLogger(__name__)

_HEX = re.compile(r"^[0-9a-f]{64}$")
_CLIENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BEARER = b"bearer "
_MAX_CLIENT_NAME = 256


def hash_key(key: str) -> str:
    """The stored form of an API key: SHA-256, lower-case hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def read_key_hashes(path: Path) -> list[tuple[str, str]]:
    """``(client, sha256-hex)`` pairs from a key file or a directory of them; a malformed line is
    skipped and logged by file and line number (never its content)."""
    pairs: list[tuple[str, str]] = []
    for file in visible_files(path):
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


class ApiKeys:
    """The valid key hashes per client, from ``path``, re-read when it changes."""

    def __init__(self, path: Path, check_seconds: float = 1.0) -> None:
        # At start-up a missing or unreadable file is fatal (raised), later only logged.
        self._file = WatchedFile(path, read_key_hashes, "API keys", check_seconds)

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def clients(self) -> list[str]:
        return sorted({client for client, _ in self._file.value})

    def __len__(self) -> int:
        return len(self._file.value)

    def client_for(self, key: str) -> str | None:
        """The client whose key this is, or None."""
        digest = hash_key(key)
        found = None
        for client, stored in self._file.value:
            if hmac.compare_digest(stored, digest):
                found = client
        return found


def _bearer(headers: Mapping[bytes, bytes]) -> bytes | None:
    authorization = headers.get(b"authorization")
    if authorization and authorization[:7].lower() == _BEARER:
        return authorization[7:].strip()
    return None


def _credentials(headers: Mapping[bytes, bytes], header: bytes) -> Iterator[bytes]:
    value = headers.get(header)
    if value:
        yield value
    token = _bearer(headers)
    if token:
        yield token


@dataclass
class Authenticator:
    """The transformer's ``serving.admission.Guard``: a valid credential, then the client's rate
    limit. The credential is a JWT (``Authorization: Bearer``, client: its ``sub``) when ``jwt``
    is set, else an API key (``header`` or ``Authorization: Bearer``, client: the key's).
    Neither (``keys`` None): authentication off; the client is then what the gateway wrote into
    ``client_header`` (trusted like the gateway itself), else ``anonymous``."""

    keys: ApiKeys | None
    header: bytes = b"x-api-key"
    limiter: RateLimiter | None = None
    client_header: bytes = b""
    jwt: JwtVerifier | None = None

    def __call__(self, headers: Mapping[bytes, bytes]) -> None:
        # Counted here, not at the HTTP edge, so gRPC refusals are counted the same way.
        try:
            client = self.client(headers)
        except Unauthenticated as exc:
            REFUSED.labels(reason=exc.reason).inc()
            raise
        if self.limiter is not None:
            try:
                self.limiter.take(client)
            except RateLimited:
                REFUSED.labels(reason="rate_limited").inc()
                raise

    def client(self, headers: Mapping[bytes, bytes]) -> str:
        if self.jwt is not None:
            token = _bearer(headers)
            if not token:
                raise Unauthenticated("missing")
            return self.jwt.subject(token.decode("latin-1"))
        if self.keys is None:
            named = headers.get(self.client_header) if self.client_header else None
            # Bounded: the name keys a bucket, and a bucket lives a minute after its last use.
            return named[:_MAX_CLIENT_NAME].decode("latin-1") if named else "anonymous"
        given = False
        for key in _credentials(headers, self.header):
            given = True
            client = self.keys.client_for(key.decode("latin-1"))
            if client is not None:
                return client
        raise Unauthenticated("invalid_key" if given else "missing")

"""JWTs checked against a JSON Web Key Set from a mounted file, reloaded when it changes.

The alternative to API keys (``CREDIT_AUTH=jwt``) for a lender whose identity provider issues
tokens, and the transformer's half of the chart's gateway JWT policy (both check the same
token). A token is accepted when its header names, by ``kid``, a public key of the set, its
signature verifies with that key's algorithm (asymmetric only: ``none`` and the HMAC family are
never accepted, so a public key cannot be used as a shared secret), it has not expired and is
already valid (``exp``, ``nbf``, with ``leeway_seconds``), and its ``iss`` and ``aud`` are the
configured ones. The client, for the per-client rate limit, is the token's ``sub``.

The set is read from a file (a ConfigMap or Secret key mounted as a directory, so that the
kubelet can swap it; never a ``subPath`` mount, which it never updates) or fetched from the
issuer's URL (``transformer.jwks_url.JwksUrl``). The file is checked at most once per
``check_seconds``; a changed file replaces the keys, an unreadable or invalid one keeps the last
good keys (logged): rotation is adding the new key to the set, issuing with it, then removing
the old one.

A refused token raises ``Unauthenticated`` with its reason for the refusal metric (``expired``,
``unknown_kid``, else ``invalid_token``); the 401 body says none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
import orjson

from credit_scoring.errors import Unauthenticated
from transformer.watched_file import WatchedFile

__all__ = ["ASYMMETRIC_ALGORITHMS", "JwksFile", "JwtVerifier", "KeySet", "parse_jwks", "read_jwks"]

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Signature algorithms a token may use; ``none`` and ``HS*`` are refused whatever the set holds."""

_MAX_SUBJECT = 256
"""Longest ``sub`` accepted: it names a rate-limit bucket, so it must stay small."""


def read_jwks(path: Path) -> dict[str, jwt.PyJWK]:
    """The usable public keys of a JWKS file by ``kid`` (``parse_jwks``)."""
    return parse_jwks(path.read_bytes(), str(path))


def parse_jwks(document: bytes, source: str) -> dict[str, jwt.PyJWK]:
    """The usable public keys of a JWKS document by ``kid``. Keys without a ``kid``, symmetric
    keys (``oct``) and keys of another algorithm are skipped and logged by index (never content);
    a document that is no key set raises ``ValueError``."""
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{source} is not JSON") from exc
    entries = parsed.get("keys") if isinstance(parsed, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source} is not a JSON Web Key Set (no 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for index, entry in enumerate(entries):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or not kid or entry.get("kty") == "oct":
            logger.warning("%s key %d: no kid, or a symmetric key: ignored", source, index)
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            logger.warning("%s key %d (kid %s): unusable (%s)", source, index, kid, type(exc).__name__)
            continue
        if key.algorithm_name not in ASYMMETRIC_ALGORITHMS:
            logger.warning(
                "%s key %d (kid %s): algorithm %s not accepted", source, index, kid, key.algorithm_name
            )
            continue
        keys[kid] = key
    return keys


class KeySet(Protocol):
    """Where the verifier finds a public key by ``kid`` (``JwksFile``, ``JwksUrl``)."""

    def get(self, kid: str) -> jwt.PyJWK | None: ...


class JwksFile:
    """The public keys of ``path`` by ``kid``, re-read when the file changes."""

    def __init__(self, path: Path, check_seconds: float = 1.0) -> None:
        # At start-up a missing or invalid file is fatal (raised), later only logged.
        self._file = WatchedFile(path, read_jwks, "JWKS", check_seconds)

    @property
    def path(self) -> Path:
        return self._file.path

    def __len__(self) -> int:
        return len(self._file.value)

    def get(self, kid: str) -> jwt.PyJWK | None:
        return self._file.value.get(kid)


@dataclass
class JwtVerifier:
    """Checks a bearer token; ``subject`` gives its client (``sub``) or raises ``Unauthenticated``."""

    keys: KeySet
    issuer: str
    audience: str
    leeway_seconds: float = 30.0

    def subject(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self.keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                logger.info("JWT refused: unknown kid")
                raise Unauthenticated("unknown_kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                # Only the key's own algorithm, and only an asymmetric one (parse_jwks): a token
                # saying "none" or "HS256" is refused before any signature check.
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            # The reason (expired, audience, signature ...) helps the operator; the token never
            # appears in the log.
            logger.info("JWT refused: %s", type(exc).__name__)
            reason = "expired" if isinstance(exc, jwt.ExpiredSignatureError) else "invalid_token"
            raise Unauthenticated(reason) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
            logger.info("JWT refused: sub is not a short string")
            raise Unauthenticated("invalid_token")
        return subject

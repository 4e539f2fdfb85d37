"""The issuer's JSON Web Key Set fetched from its URL (``CREDIT_JWKS_URL``) and kept current.

The alternative to a mounted JWKS file (``transformer.jwt_auth.JwksFile``) when the identity
provider publishes its keys at a URL (``/.well-known/jwks.json``, Keycloak's ``.../certs``) and
no one copies them into a ConfigMap. The set is fetched once at start (a failure there raises:
a transformer that never had a key would refuse every token), then by one background thread
every ``refresh_seconds``, and sooner when a token names a ``kid`` the set lacks (a rotation:
the provider publishes a new key and signs with it). Fetches are at least ``min_interval_seconds``
apart whatever the tokens say, so made-up ``kid`` values cannot turn the transformer into a
load generator against the provider. A fetch that fails (unreachable, timeout, non-2xx, not a
key set) keeps the last good keys, logged and counted (``credit_jwks_fetches_total``).

A token with an unknown ``kid`` is refused at once (401) rather than waiting for the fetch it
triggers: the guard runs on the event loop and must not block on the network. Tokens signed
with the new key are accepted as soon as that fetch lands; identity providers publish a key
before signing with it, so the periodic refresh normally has it already.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx
import jwt
from prometheus_client import Counter

from transformer.jwt_auth import parse_jwks

__all__ = ["JWKS_FETCHES", "JwksUrl"]

logger = logging.getLogger(__name__)

JWKS_FETCHES = Counter(
    "credit_jwks_fetches_total",
    "Fetches of the JWKS from CREDIT_JWKS_URL by outcome (success, failure: the last good keys stay).",
    ["outcome"],
)
for _outcome in ("success", "failure"):
    JWKS_FETCHES.labels(outcome=_outcome)

_MAX_BYTES = 1_000_000
"""Largest JWKS document read (a real one is a few kB)."""


class JwksUrl:
    """The public keys at ``url`` by ``kid``, refreshed in the background."""

    def __init__(
        self,
        url: str,
        refresh_seconds: float = 300.0,
        min_interval_seconds: float = 10.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self.min_interval_seconds = min_interval_seconds
        self._client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._last_fetch = time.monotonic()
        try:
            self._keys = self._fetch()
        except (httpx.HTTPError, ValueError):
            JWKS_FETCHES.labels(outcome="failure").inc()
            self._client.close()
            raise
        JWKS_FETCHES.labels(outcome="success").inc()
        self._thread = threading.Thread(target=self._refresh_loop, name="jwks-refresh", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is None:
            self._wake.set()  # maybe a rotation: fetch now (no sooner than min_interval_seconds)
        return key

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        self._last_fetch = time.monotonic()
        response = self._client.get(self.url, headers={"accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > _MAX_BYTES:
            raise ValueError(f"{self.url} answered {len(response.content)} bytes, more than a JWKS")
        return parse_jwks(response.content, self.url)

    def _refresh_loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(timeout=self.refresh_seconds)
            self._wake.clear()
            if self._stopped.is_set():
                return
            wait = self._last_fetch + self.min_interval_seconds - time.monotonic()
            if wait > 0 and self._stopped.wait(timeout=wait):
                return
            self._wake.clear()  # unknown kids seen while waiting are served by this fetch
            try:
                keys = self._fetch()
            except Exception as exc:  # whatever failed, the refresh thread must live on
                JWKS_FETCHES.labels(outcome="failure").inc()
                logger.warning(
                    "JWKS from %s unusable (%s): keeping the last good %d keys",
                    self.url,
                    type(exc).__name__,
                    len(self._keys),
                )
                continue
            JWKS_FETCHES.labels(outcome="success").inc()
            if keys.keys() != self._keys.keys():
                logger.info("JWKS from %s: now %d keys (%s)", self.url, len(keys), ", ".join(sorted(keys)))
            self._keys = keys

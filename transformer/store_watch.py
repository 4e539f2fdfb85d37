"""Is the online store whole? The materialization marker, checked cheaply, decides.

An emptied Redis answers every lookup with "no profile", and serving would answer every known
applicant as a thin file with HTTP 200 (the approve example at PD 0.02 became a refer at PD
0.64). Materialization writes a marker (``feature_store.marker``); this watch checks it

- with every batch on the direct reader: one ``GET`` in the same pipelined write as the
  profiles (no extra round trip), so not one answer is built from an emptied store;
- at start-up and every ``CREDIT_FEATURE_MARKER_CHECK_SECONDS`` in a background thread (both
  readers): the transformer goes not ready while the marker is missing or older than
  ``CREDIT_FEATURE_MAX_AGE_SECONDS``, and ready again when a materialization wrote it back.

While the store is not trusted every request answers 503 with ``code`` ``online_store_empty``
or ``online_store_stale``. A Redis that does not answer is not judged here: lookups report it
(503, ``credit_dependency_failures_total``) and readiness stays as it was, as before.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Gauge

from credit_scoring.errors import OnlineStoreNotReady
from feature_store.marker import Marker, RedisAddress, marker_key

__all__ = ["MARKER_AGE", "STORE_READY", "WATERMARK", "OnlineStoreWatch", "StoreVerdict"]

log = logging.getLogger(__name__)

STORE_READY = Gauge(
    "credit_online_store_ready",
    "1 while the online store holds a materialization marker younger than the maximum age, else 0.",
)
MARKER_AGE = Gauge(
    "credit_online_store_materialization_age_seconds",
    "Seconds since the last materialization into the online store finished (NaN: no marker).",
)
WATERMARK = Gauge(
    "credit_online_store_watermark_timestamp_seconds",
    "End of the last materialized window (the data watermark), Unix time (NaN: no marker).",
)


@dataclass(frozen=True)
class StoreVerdict:
    """One look at the marker: trusted, or why not."""

    ok: bool
    code: str | None = None
    message: str = ""
    marker: Marker | None = None


class OnlineStoreWatch:
    """The marker's verdict, kept current by the readers' reads and by a background check."""

    def __init__(
        self,
        address: RedisAddress | None,
        project: str,
        *,
        max_age_seconds: float | None = None,
        check_seconds: float = 5.0,
        client_timeout: float = 1.0,
    ) -> None:
        self.address = address
        self.key = marker_key(project)
        self.max_age_seconds = max_age_seconds
        self.check_seconds = check_seconds
        self._client_timeout = client_timeout
        self._verdict = StoreVerdict(ok=True)
        self._observed: tuple[bytes | None, StoreVerdict] | None = None
        """The last marker bytes ``observe`` judged, and their verdict."""
        self._listeners: list[Callable[[bool], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        STORE_READY.set(1)
        MARKER_AGE.set_function(self._age)
        WATERMARK.set_function(self._watermark)
        if address is None:
            log.warning(
                "online store is not a plain Redis: the materialization marker is not checked, an "
                "emptied store would be answered as thin files"
            )

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def ok(self) -> bool:
        return self._verdict.ok

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Called with the new state whenever the store becomes trusted or untrusted."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ verdicts
    def judge(self, raw: bytes | None, now: datetime | None = None) -> StoreVerdict:
        where = f"online feature store (Redis at {self.address})"
        if raw is None:
            return StoreVerdict(
                False,
                "online_store_empty",
                f"{where} holds no materialization marker: it lost its data (restarted without "
                "persistence?); re-materialize the features (docs/reliability.md)",
            )
        try:
            marker = Marker.from_bytes(raw)
        except ValueError:
            return StoreVerdict(False, "online_store_empty", f"{where} holds an unreadable marker")
        age = marker.age_seconds(now)
        if self.max_age_seconds is not None and age > self.max_age_seconds:
            return StoreVerdict(
                False,
                "online_store_stale",
                f"{where} was last materialized {age:.0f}s ago, more than the allowed "
                f"{self.max_age_seconds:g}s (CREDIT_FEATURE_MAX_AGE_SECONDS)",
                marker,
            )
        return StoreVerdict(True, marker=marker)

    def observe(self, raw: bytes | None) -> None:
        """The marker as a read just found it: remember the verdict, raise when untrusted."""
        last = self._observed
        if last is not None and last[0] == raw and self.max_age_seconds is None:
            # The marker every read of an unchanged store finds: without an age limit the same
            # bytes get the same verdict, so it is not parsed again on every request.
            verdict = last[1]
        else:
            verdict = self.judge(raw)
            self._observed = (raw, verdict)
        self._set(verdict)
        self.require()

    def require(self) -> None:
        """Raise the store's 503 while it is not trusted (a cached verdict: no I/O)."""
        verdict = self._verdict
        if not verdict.ok:
            raise OnlineStoreNotReady(verdict.message, verdict.code or "online_store_empty")

    def check_now(self) -> StoreVerdict | None:
        """One synchronous ``GET`` of the marker; None when Redis does not answer (not judged)."""
        if self.address is None:
            return None
        try:
            with self.address.client(self._client_timeout) as client:
                raw = client.get(self.key)
        except Exception as exc:  # redis-py's errors and OSError: an outage, reported by lookups
            log.debug("marker check: online store unreachable (%s)", type(exc).__name__)
            return None
        verdict = self.judge(raw)
        self._set(verdict)
        return verdict

    def _set(self, verdict: StoreVerdict) -> None:
        before = self._verdict
        self._verdict = verdict
        if before.ok == verdict.ok and before.code == verdict.code:
            return
        STORE_READY.set(1 if verdict.ok else 0)
        if verdict.ok:
            log.warning("online store trusted again: materialization marker present")
        else:
            log.error("online store not trusted (%s): %s", verdict.code, verdict.message)
        for listener in self._listeners:
            listener(verdict.ok)

    def _age(self) -> float:
        marker = self._verdict.marker
        return marker.age_seconds() if marker is not None else math.nan

    def _watermark(self) -> float:
        marker = self._verdict.marker
        return marker.end.timestamp() if marker is not None else math.nan

    # ------------------------------------------------------------------ background check
    def start(self) -> None:
        """Check now (start-up decides readiness), then every ``check_seconds`` in a thread."""
        if self.address is None or self._thread is not None:
            return
        self.check_now()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="online-store-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.check_seconds):
            self.check_now()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._client_timeout + 1.0)

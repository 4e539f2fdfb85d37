"""Follow the registry alias and hot-swap the served model.

A daemon thread resolves the alias every poll interval. A new version is downloaded and checked
in that thread while the current one keeps serving; then one reference assignment makes it
current. Requests read the reference once when they start, so in-flight requests finish on the
version they started with. A version that fails to load is never swapped in: the current one
keeps serving, the failure is logged and counted, and the version is retried with backoff.

Two backoffs, one per situation:

- nothing served yet (start-up): every failure, whether the registry cannot be reached or the
  version cannot be downloaded or is refused, is retried after ``backoff`` seconds, doubling up
  to ``backoff_max`` (``CREDIT_STARTUP_BACKOFF_SECONDS`` / ``..._MAX_SECONDS``);
- a version is served: the registry is asked again every poll interval; a new version that fails
  to load is retried after one poll interval, doubling up to max(``backoff_max``, 10 polls).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from credit_scoring.errors import RegistryUnavailable
from predictor.metrics import PredictorMetrics
from predictor.registry import Registry
from predictor.scoring import LoadedModel

__all__ = ["ModelWatcher"]

logger = logging.getLogger(__name__)


@dataclass
class _Failure:
    attempts: int
    retry_at: float


class ModelWatcher:
    """Owns the *current* ``LoadedModel`` and keeps it in step with the registry."""

    def __init__(
        self,
        registry: Registry,
        metrics: PredictorMetrics,
        poll_interval: float,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        on_change: Callable[[LoadedModel], None] | None = None,
    ) -> None:
        self.registry = registry
        self._metrics = metrics
        self._poll = poll_interval
        self._backoff = backoff
        self._backoff_max = backoff_max
        self.on_change = on_change
        self._current: LoadedModel | None = None
        self._failures: dict[str, _Failure] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = "not loaded yet"
        ref = registry.ref
        self._labels = {"model": ref.name, "alias": ref.alias or ""}
        metrics.ready.labels(model=ref.name).set(0)
        metrics.served_version.labels(**self._labels).set(0)

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self._backoff
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the watcher must outlive any surprise; it is logged, never fatal
                logger.exception("unexpected error while following %s", self.registry.ref)
            if self._current is None:
                logger.warning(
                    "model %s not ready (%s); retrying in %.1fs", self.registry.ref, self.last_error, delay
                )
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff_max)
            else:
                delay = self._backoff
                self._stop.wait(self._poll)

    def poll_once(self) -> None:
        """Resolve the reference once and load + swap if it moved. Never raises for registry trouble."""
        ref = self.registry.ref
        try:
            version = self.registry.resolve()
        except RegistryUnavailable as exc:
            self.last_error = str(exc)
            self._metrics.registry_poll_failures.labels(**self._labels).inc()
            if self._current is not None:
                logger.warning("%s; still serving version %s", exc, self._current.version)
            return
        self._metrics.registry_version.labels(**self._labels).set(_numeric(version))
        current = self._current
        if current is not None and current.version == version:
            self._failures.clear()
            return
        failure = self._failures.get(version)
        # While nothing is served, the start-up loop in _run paces the retries.
        if current is not None and failure is not None and time.monotonic() < failure.retry_at:
            return
        try:
            loaded = self.registry.load(version)
        except Exception as exc:
            attempts = failure.attempts + 1 if failure else 1
            wait = min(self._poll * 2 ** (attempts - 1), max(self._backoff_max, 10 * self._poll))
            self._failures[version] = _Failure(attempts, time.monotonic() + wait)
            self._metrics.reloads.labels(model=ref.name, outcome="failure").inc()
            self.last_error = f"loading version {version} failed: {exc}"
            if current is None:  # the start-up loop logs the retry
                logger.error("loading %s version %s failed (attempt %d): %s", ref, version, attempts, exc)
                return
            logger.error(
                "reload of %s version %s failed (attempt %d, next in %.0fs): %s; still serving version %s",
                ref,
                version,
                attempts,
                wait,
                exc,
                current.version,
            )
            return
        self._swap(loaded, previous=current)

    def _swap(self, loaded: LoadedModel, previous: LoadedModel | None) -> None:
        ref = self.registry.ref
        self._current = loaded  # the atomic swap: one reference assignment
        self._failures.pop(loaded.version, None)
        self.last_error = None
        self._metrics.served_version.labels(**self._labels).set(_numeric(loaded.version))
        self._metrics.ready.labels(model=ref.name).set(1)
        self._metrics.reloads.labels(model=ref.name, outcome="success").inc()
        if previous is None:
            logger.info("serving %s version %s", ref, loaded.version)
        else:
            logger.info("%s moved: now serving version %s (was %s)", ref, loaded.version, previous.version)
        if self.on_change is not None:
            self.on_change(loaded)


def _numeric(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return float("nan")

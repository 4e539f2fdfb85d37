"""The background writer: batched inserts off the request path, spill and replay."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError

from inference_log.records import InferenceRecord, RecordBatch, table_values
from inference_log.settings import InferenceLogSettings
from inference_log.spill import SpillFile, SpillFull, read_spill
from inference_log.store import LogStore, create_log_engine

__all__ = ["InferenceLogWriter", "WriterStats"]

log = logging.getLogger(__name__)

Chunk = RecordBatch | list[InferenceRecord]
"""What ``submit`` queues: the caller's batch as it came (columns, or a list of records)."""


@dataclass
class _Metrics:
    records: Counter
    queue_depth: Gauge
    spill_bytes: Gauge
    spill_max_bytes: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> _Metrics:
        records = Counter(
            "credit_inference_log_records",
            "Inference-log records by outcome.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("written", "spilled", "replayed", "dropped"):
            records.labels(outcome)  # export zeros, so rate() works from the first scrape
        return cls(
            records,
            Gauge(
                "credit_inference_log_queue_depth",
                "Inference-log records waiting in memory.",
                registry=registry,
            ),
            Gauge(
                "credit_inference_log_spill_bytes",
                "Bytes of spilled inference-log records waiting for replay in the spill directory.",
                registry=registry,
            ),
            Gauge(
                "credit_inference_log_spill_max_bytes",
                "Cap of the spill directory (records beyond it are dropped and counted); 0: no cap.",
                registry=registry,
            ),
        )


@dataclass
class WriterStats:
    """Counts since start (also exported as metrics); ``database_up`` as last seen."""

    written: int = 0
    spilled: int = 0
    replayed: int = 0
    dropped: int = 0
    database_up: bool = False
    last_error: str | None = None


# --------------------------------------------------------------------------- writer
class InferenceLogWriter:
    """Batched background writer; ``submit`` never blocks and never raises."""

    def __init__(
        self,
        url: str,
        spill_dir: Path,
        *,
        batch_size: int = 5_000,
        flush_interval: float = 0.5,
        max_queue: int = 20_000,
        retry_interval: float = 5.0,
        connect_timeout: int = 5,
        statement_timeout: int = 10,
        spill_max_bytes: int | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._engine = create_log_engine(url, connect_timeout, statement_timeout)
        self._store = LogStore(self._engine)
        self._spill = SpillFile(spill_dir, spill_max_bytes)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._max_queue = max_queue
        # Submitted batches waiting for the thread, as the caller's own chunks: one append per
        # submit and no wake-up until a batch is full (or flush_interval passes), so submitting
        # costs the request path a lock and an append, not a thread hand-over per record.
        # Rows and JSON are only built in the thread, from the columns (RecordBatch).
        self._pending: deque[Chunk] = deque()
        self._pending_count = 0
        self._outstanding = 0  # submitted, neither in the database nor in the spill file yet
        self._cv = threading.Condition()  # guards the three counters above and _closed
        # A private registry by default, so tests can build many writers in one process.
        self._metrics = _Metrics.create(registry if registry is not None else CollectorRegistry())
        self._metrics.queue_depth.set_function(lambda: self._pending_count)
        self._metrics.spill_max_bytes.set(spill_max_bytes or 0)
        self._metrics.spill_bytes.set(self._spill.size())
        self._last_drop_log = -math.inf
        self.stats = WriterStats()
        self._stop = threading.Event()
        self._closed = False
        self._schema_ready = False
        self._next_db_attempt = 0.0
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls, settings: InferenceLogSettings, registry: CollectorRegistry | None = None
    ) -> InferenceLogWriter:
        return cls(
            settings.database_url(),
            settings.spill_path(),
            batch_size=settings.batch_size,
            flush_interval=settings.flush_interval_seconds,
            max_queue=settings.max_queue,
            retry_interval=settings.retry_interval_seconds,
            connect_timeout=settings.connect_timeout_seconds,
            statement_timeout=settings.statement_timeout_seconds,
            spill_max_bytes=settings.spill_max_bytes or None,
            registry=registry,
        )

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    # ---- lifecycle
    def start(self) -> InferenceLogWriter:
        if self._thread is None:
            # Daemon, plus an atexit hook: the interpreter joins non-daemon threads *before*
            # atexit runs, so a non-daemon loop could never be told to stop at exit.
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()
            atexit.register(self.close)
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still queued (or spill it), then stop. Idempotent."""
        with self._cv:
            if self._closed:
                return
            self._closed = True  # from now on submit() spills: nothing races the drain below
            self._stop.set()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        # Whatever the thread could not finish in time goes to the spill file, never lost.
        leftover = self._drain()
        self._spill_rows(leftover, "close")
        self._settle(len(leftover))
        self._spill.close()
        self._engine.dispose()
        with contextlib.suppress(ValueError):
            atexit.unregister(self.close)

    async def aclose(self, timeout: float = 30.0) -> None:
        await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> InferenceLogWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- request path
    def submit(self, records: Iterable[InferenceRecord] | RecordBatch) -> None:
        """Queue records for writing; what does not fit in memory goes to the spill file."""
        batch: Chunk = records if isinstance(records, RecordBatch) else list(records)
        n = len(batch)
        if not n:
            return
        with self._cv:
            self._outstanding += n
            room = 0 if self._closed else max(self._max_queue - self._pending_count, 0)
            # Sliced only when it does not all fit: a RecordBatch slice copies every column, and
            # the common case (room for all) is on the request path, under the lock.
            kept, overflow = (batch, None) if room >= n else (batch[:room], batch[room:])
            if len(kept):
                self._pending.append(kept)
                self._pending_count += len(kept)
                if self._pending_count >= self._batch_size:
                    self._cv.notify_all()
        if overflow is not None and len(overflow):
            self._spill_rows(_rows([overflow]), "closed" if self._closed else "queue full")
            self._settle(len(overflow))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted record is in the database or the spill file."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._cv.notify_all()  # don't make the thread sit out its flush interval
            while self._outstanding > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(remaining)
        return True

    def spill_pending(self) -> bool:
        """True while spilled records wait for replay."""
        return self._spill.pending()

    # ---- background thread
    def _run(self) -> None:
        while True:
            batch = self._take()
            try:
                if batch:
                    self._write(batch)
                elif self._stop.is_set():
                    break
                if self._spill.pending() and time.monotonic() >= self._next_db_attempt:
                    self._replay()
            except Exception:
                # A bug must not kill the writer silently: keep the records, keep running.
                log.exception("inference log writer error")
                if batch:
                    n = sum(len(c) for c in batch)
                    self._spill_rows(_rows(batch), "writer error")
                    self._settle(n)
        # Final attempt to empty the spill file while we still can.
        if self._spill.pending() and self.stats.database_up:
            self._replay()

    def _take(self) -> list[Chunk]:
        """Up to ``batch_size`` records, waiting at most ``flush_interval`` for a full batch."""
        with self._cv:
            if self._pending_count < self._batch_size and not self._stop.is_set():
                self._cv.wait(self._flush_interval)
            return self._pop(self._batch_size)

    def _pop(self, limit: int) -> list[Chunk]:
        """Take up to ``limit`` records off the pending chunks (caller holds ``_cv``)."""
        batch: list[Chunk] = []
        taken = 0
        while self._pending and taken < limit:
            head = self._pending[0]
            take = limit - taken
            if len(head) <= take:
                batch.append(self._pending.popleft())
                taken += len(head)
            else:
                batch.append(head[:take])
                self._pending[0] = head[take:]
                taken += take
        self._pending_count -= taken
        return batch

    def _drain(self) -> list[dict[str, Any]]:
        with self._cv:
            return _rows(self._pop(self._pending_count))

    def _write(self, batch: list[Chunk]) -> None:
        n = sum(len(c) for c in batch)
        if time.monotonic() < self._next_db_attempt:
            self._spill_rows(_rows(batch), "database down")  # do not hammer a database that is down
        else:
            written = self._insert(_values(batch, self._store.bind_time))
            if written is None:
                self._spill_rows(_rows(batch), "database error")
            else:
                self._count("written", written)
        self._settle(n)

    def _insert(self, rows: list[tuple[Any, ...]]) -> int | None:
        """Insert ``rows`` (``store.COLUMNS`` tuples); the number written, or None when the
        database is unreachable."""
        try:
            if not self._schema_ready:
                self._store.create_table()
                self._schema_ready = True
            for start in range(0, len(rows), self._batch_size):
                self._store.insert(rows[start : start + self._batch_size])
            written: int | None = len(rows)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            # Connection-level trouble (or SQLite busy, or the table gone): retry later.
            self._database_down(exc)
            return None
        except SQLAlchemyError:
            # The database answered but refused the data: isolate the bad rows.
            written = self._insert_one_by_one(rows)
            if written is None:
                return None
        if not self.stats.database_up:
            log.info("inference log database reachable")
        self.stats.database_up = True
        return written

    def _insert_one_by_one(self, rows: list[tuple[Any, ...]]) -> int | None:
        written = 0
        for row in rows:
            try:
                self._store.insert([row])
                written += 1
            except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
                self._database_down(exc)
                return None
            except SQLAlchemyError as exc:
                # A record the database will never accept would block replay forever.
                log.error(
                    "inference log record %s/%s rejected and dropped: %s",
                    row[0],  # request_id
                    row[1],  # row_index
                    exc.__class__.__name__,
                )
                self._count("dropped", 1)
        return written

    def _database_down(self, exc: Exception) -> None:
        if self.stats.database_up or self.stats.last_error is None:
            log.warning(
                "inference log database unreachable, spilling to %s: %s",
                self._spill.directory,
                exc.__class__.__name__,
            )
        self.stats.database_up = False
        self.stats.last_error = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
        self._schema_ready = False  # recreate the table if it was the thing that went away
        self._next_db_attempt = time.monotonic() + self._retry_interval

    def _count(self, outcome: str, n: int) -> None:
        if n:
            setattr(self.stats, outcome, getattr(self.stats, outcome) + n)
            self._metrics.records.labels(outcome).inc(n)

    def _replay(self) -> None:
        for path in self._spill.claim():
            try:
                rows, bad = read_spill(path)
            except FileNotFoundError:
                continue  # another process replayed it first
            bind = self._store.bind_time
            written = self._insert([InferenceRecord.from_row(r).values(bind) for r in rows])
            if written is None:
                return  # the file stays; the next attempt replays it (idempotent)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._count("replayed", written)
            if bad:
                log.error("%d unreadable lines in %s (torn write) dropped", bad, path.name)
                self._count("dropped", bad)
            log.info("replayed %d spilled inference-log records from %s", written, path.name)
        self._metrics.spill_bytes.set(self._spill.size())

    def _spill_rows(self, rows: list[dict[str, Any]], why: str) -> None:
        if not rows:
            return
        try:
            n = self._spill.append(rows)
        except OSError as exc:
            # The last line of defence failed too (spill full, disk full): count and say so
            # loudly, but in one line per 10 s, not one per batch while it lasts.
            self._count("dropped", len(rows))
            now = time.monotonic()
            if now - self._last_drop_log >= 10.0:
                self._last_drop_log = now
                full = "spill full" if isinstance(exc, SpillFull) else "spill failed"
                log.error(
                    "inference log %s (%s): records dropped (%d so far): %s",
                    full,
                    why,
                    self.stats.dropped,
                    exc,
                )
            return
        self._count("spilled", n)
        self._metrics.spill_bytes.set(self._spill.size())

    def _settle(self, n: int) -> None:
        with self._cv:
            self._outstanding -= n
            self._cv.notify_all()


def _rows(chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    """Spill-file rows (``InferenceRecord.to_row``) of queued chunks."""
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        out += chunk.to_rows() if isinstance(chunk, RecordBatch) else [r.to_row() for r in chunk]
    return out


def _values(chunks: Sequence[Chunk], bind_time: Callable[[datetime], Any]) -> list[tuple[Any, ...]]:
    """Table rows (``store.COLUMNS`` tuples) of queued chunks, in order; consecutive column
    batches in one pass (``records.table_values``)."""
    out: list[tuple[Any, ...]] = []
    batches: list[RecordBatch] = []
    for chunk in chunks:
        if isinstance(chunk, RecordBatch):
            batches.append(chunk)
            continue
        if batches:
            out += table_values(batches, bind_time)
            batches = []
        out += [r.values(bind_time) for r in chunk]
    if batches:
        out += table_values(batches, bind_time)
    return out

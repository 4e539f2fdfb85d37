"""Inference-log records gathered on the event loop and handed to the writer in chunks.

The writer's ``submit`` puts every record on a thread queue and notifies its thread; at hundreds
of requests per second those wake-ups (and the GIL hand-overs they cause) cost more than building
the records: about 11 % of the transformer's CPU in a profile at 32 concurrent requests. Handing
the writer one chunk every ``interval`` seconds (or every ``max_records``) keeps its batching and
durability (spill, replay) as they are, and wakes its thread about ten times a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

from inference_log import RecordBatch

__all__ = ["ChunkedSink", "RecordSink"]


class RecordSink(Protocol):
    """``inference_log.InferenceLogWriter``: ``submit`` never blocks or raises."""

    def submit(self, records: Iterable[Any] | RecordBatch) -> None: ...

    def close(self, timeout: float = 30.0) -> None: ...


class ChunkedSink:
    """A ``RecordSink`` in front of another one; call it from the event loop only.

    Plain records are gathered into one list per hand-over; a ``RecordBatch`` (one scored
    request, column by column) is handed over as it is, never unpacked into records here.
    """

    def __init__(self, sink: RecordSink, *, interval: float = 0.1, max_records: int = 1000) -> None:
        self.sink = sink
        self.interval = interval
        self.max_records = max_records
        self._records: list[Any] = []
        self._batches: list[RecordBatch] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def submit(self, records: Iterable[Any] | RecordBatch) -> None:
        if isinstance(records, RecordBatch):
            self._batches.append(records)
            self._count += len(records)
        else:
            before = len(self._records)
            self._records.extend(records)
            self._count += len(self._records) - before
        if self._count >= self.max_records:
            self.flush()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): nothing would flush later
                self.flush()
                return
            self._timer = loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batches, self._batches = self._batches, []
        records, self._records = self._records, []
        self._count = 0
        for batch in batches:
            self.sink.submit(batch)
        if records:
            self.sink.submit(records)

    def close(self, timeout: float = 30.0) -> None:
        """Everything still gathered goes to the writer, which then writes (or spills) it all."""
        self.flush()
        self.sink.close(timeout)

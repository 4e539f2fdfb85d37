"""Shadow scoring: the challenger predictor scores copies of the served batches in the background.

Its answers go to the inference log (role ``challenger``, ``served`` false, each request's rows
under the request's id and row indexes, as the champion's) and the answer metrics, never to the
client, who never waits for it: ``start`` only queues the request's rows and returns.

Copies are scored in micro-batches, because shadow scoring shares the CPUs with the champion: a
queue collects requests until it holds ``batch_rows`` rows or its oldest request has waited
``wait_seconds``, then one ``call_predictor`` (one v2 call, the challenger's own ``PolicyBook``)
scores them all and the answers are cut back into the requests they came from. The predictor
scores a block of rows for little more than one row, so the challenger's cost per request is a
fraction of a call per request.

Bounded, so a slow or dead challenger can never build up memory or latency:
- at most ``max_in_flight`` shadow calls run at once; while they do, requests wait in the queue;
- the queue holds at most ``queue_rows`` rows (a request alone is always queued, whatever its
  size); beyond that a request is not shadowed and its applications are counted in
  ``credit_shadow_skipped_total``;
- on shutdown (``cancel``), what is still queued or in flight is not scored: counted there too.

A failed call counts one ``credit_dependency_failures_total{dependency="shadow_predictor"}`` and
loses only that block's shadow records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_scoring.errors import CreditScoringError
from inference_log import Role
from serving.context import RequestContext
from transformer import metrics
from transformer.answers import PolicyBook
from transformer.online_features import FeatureBatch
from transformer.payloads import ApplicationBatch
from transformer.predictor_client import PredictorClient

if TYPE_CHECKING:
    from transformer.model import CreditScoringModel

__all__ = ["Shadow"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Copy:
    """One served request waiting for its shadow score."""

    batch: ApplicationBatch
    features: FeatureBatch
    context: RequestContext


class Shadow:
    def __init__(
        self,
        model: CreditScoringModel,
        client: PredictorClient,
        max_in_flight: int,
        *,
        batch_rows: int = 256,
        wait_seconds: float = 0.05,
        queue_rows: int = 4096,
    ) -> None:
        if max_in_flight < 1 or batch_rows < 1 or queue_rows < 1 or wait_seconds < 0:
            raise ValueError("shadow bounds must be positive")
        self.model = model
        self.client = client
        self.max_in_flight = max_in_flight
        self.batch_rows = batch_rows
        self.wait_seconds = wait_seconds
        self.queue_rows = queue_rows
        self.policies = PolicyBook()
        self._queue: deque[_Copy] = deque()
        self._queued_rows = 0
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._worker: asyncio.Task[None] | None = None
        self._calls: dict[asyncio.Task[None], int] = {}  # call -> rows it scores
        self._warned = 0.0

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def start(self, batch: ApplicationBatch, features: FeatureBatch, context: RequestContext) -> None:
        """Queue a served request's rows for shadow scoring (never waits, never raises)."""
        n = len(batch)
        if self._queued_rows and self._queued_rows + n > self.queue_rows:
            metrics.SHADOW_SKIPPED.inc(n)
            return
        self._queue.append(_Copy(batch, features, context))
        self._queued_rows += n
        self._arrived.set()
        if self._queued_rows >= self.batch_rows:
            self._full.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._dispatch())

    async def _dispatch(self) -> None:
        """Forever: wait for a first request, give it ``wait_seconds`` to get company (less when
        a block is full), then send a block as soon as a call slot is free."""
        while True:
            await self._arrived.wait()
            if self._queued_rows < self.batch_rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.wait_seconds)
            await self._slots.acquire()
            block = self._take()
            if not block:  # emptied by shutdown meanwhile
                self._slots.release()
                continue
            call = asyncio.get_running_loop().create_task(self._score(block))
            self._calls[call] = sum(len(c.batch) for c in block)
            call.add_done_callback(self._finished)

    def _take(self) -> list[_Copy]:
        """The oldest requests, up to ``batch_rows`` rows (at least one request, whatever its size)."""
        block: list[_Copy] = []
        rows = 0
        while self._queue and (not block or rows + len(self._queue[0].batch) <= self.batch_rows):
            copy = self._queue.popleft()
            block.append(copy)
            rows += len(copy.batch)
        self._queued_rows -= rows
        if self._queued_rows < self.batch_rows:
            self._full.clear()
        if not self._queue:
            self._arrived.clear()
        return block

    def _finished(self, call: asyncio.Task[None]) -> None:
        self._calls.pop(call, None)
        self._slots.release()

    async def _score(self, block: list[_Copy]) -> None:
        model = self.model
        batch, features = _joined(block)
        try:
            # One call for the block; headers of no single request travel with it.
            context = RequestContext(block[0].context.request_id, time.perf_counter(), {})
            scoring = await model.call_predictor(self.client, self.policies, features, context)
            answers = model.answers(batch, scoring, "", Role.CHALLENGER)
        except CreditScoringError as exc:
            metrics.DEPENDENCY_FAILURES.labels(dependency="shadow_predictor").inc()
            now = time.monotonic()
            if now - self._warned > 30.0:  # one line per 30 s, not one per call
                self._warned = now
                log.warning("shadow scoring failed (answers are unaffected): %s", exc)
            return
        metrics.observe_answers(answers, Role.CHALLENGER.value)
        model.remember(Role.CHALLENGER, scoring.prediction)
        # The block's records built once (one pass of hashing and audit attributes) and logged as
        # one batch: each request's rows under its own id, numbered from 0, with its own latency
        # (queue wait included).
        records = model.records(batch, scoring, answers, block[0].context, Role.CHALLENGER, served=False)
        if records is None:
            return
        now = time.perf_counter()
        model.log(
            records.of_requests(
                [(c.context.request_id, len(c.batch), (now - c.context.started) * 1000.0) for c in block]
            )
        )

    def cancel(self) -> None:
        """Shutdown: stop the queue and the calls; what they held is counted as not shadowed."""
        if self._worker is not None:
            self._worker.cancel()
        unscored = self._queued_rows + sum(self._calls.values())
        for call in list(self._calls):
            call.cancel()
        self._queue.clear()
        self._queued_rows = 0
        self._calls.clear()
        if unscored:
            metrics.SHADOW_SKIPPED.inc(unscored)


def _joined(block: list[_Copy]) -> tuple[ApplicationBatch, FeatureBatch]:
    """The block's requests as one batch, rows in queue order."""
    if len(block) == 1:
        return block[0].batch, block[0].features
    first = block[0]
    applications = [a for c in block for a in c.batch.applications]
    columns: dict[str, Any] = {}
    for name, column in first.features.columns.items():
        parts = [c.features.columns[name] for c in block]
        if isinstance(column, np.ndarray):
            columns[name] = np.concatenate(parts)
        else:
            columns[name] = [v for part in parts for v in part]
    features = FeatureBatch(
        np.concatenate([c.features.matrix for c in block]),
        np.concatenate([c.features.has_profile for c in block]),
        columns,
    )
    return replace(first.batch, applications=applications), features

"""The local engine: the portfolio streamed through a pool of worker processes, one per core.

The driver reads chunks (``chunk_rows`` rows) with pyarrow and hands them to the workers; each
worker validates, joins and scores its chunk (``batch.chunks``) and returns Arrow batches; the
driver writes them in input order. At most one chunk per worker plus one are in flight, so
memory is bounded by the chunk size and the worker count, never by the input's size; chunks are
small enough (25,000 rows by default) that a 100,000-row portfolio already fills the pipeline
as a million-row one does (the bench compares their peak RSS). Workers are started
(``spawn``: no state inherited from the driver) before the driver loads the model, so their
imports overlap with the registry download.
"""

from __future__ import annotations

import collections
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

from batch.chunks import ChunkContext, ChunkResult, score_chunk, warm_up
from batch.inputs import PortfolioFile

__all__ = ["LocalEngine", "Tally"]


@dataclass
class Tally:
    """What a run has done so far (the progress display and the summary read it)."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0
    thin_files: int = 0
    decisions: collections.Counter[str] = field(default_factory=collections.Counter)
    started: float = field(default_factory=time.monotonic)

    def add(self, result: ChunkResult) -> None:
        self.rows += result.rows
        self.scored += result.answers.num_rows
        self.rejected += result.rejects.num_rows
        self.thin_files += result.thin_files
        self.decisions.update(result.decisions)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the driver alone decides how the run ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()


class LocalEngine:
    """``with LocalEngine(workers) as engine: engine.run(...)``; workers=1 scores in this process."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalEngine:
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
            )
            for _ in range(self.workers):  # start them all now (the pool starts workers lazily)
                self._pool.submit(time.sleep, 0)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            # On failure or interruption, queued chunks are dropped; running ones finish (< 1 s).
            self._pool.shutdown(wait=True, cancel_futures=exc is not None)
            self._pool = None

    def run(
        self,
        portfolio: PortfolioFile,
        context: ChunkContext,
        chunk_rows: int,
        write: Callable[[ChunkResult], None],
        progress: Callable[[Tally], None] | None = None,
    ) -> Tally:
        """Score every chunk, hand each result to ``write`` in input order, return the totals."""
        tally = Tally()
        for result in self._results(portfolio, context, chunk_rows):
            write(result)
            tally.add(result)
            if progress is not None:
                progress(tally)
        return tally

    def _results(
        self, portfolio: PortfolioFile, context: ChunkContext, chunk_rows: int
    ) -> Iterator[ChunkResult]:
        first_row = 0
        if self._pool is None:
            for batch in portfolio.batches(chunk_rows):
                yield score_chunk(context, batch, first_row)
                first_row += batch.num_rows
            return
        pending: collections.deque[Future[ChunkResult]] = collections.deque()
        for batch in portfolio.batches(chunk_rows):
            pending.append(self._pool.submit(score_chunk, context, batch, first_row))
            first_row += batch.num_rows
            if len(pending) > self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

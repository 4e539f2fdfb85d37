"""Atomic output: a run's files appear complete, under their final names, or not at all.

Each file is written to a hidden temporary name in its own folder (``.NAME.tmp-RUNID``) and
renamed over the final name only after the last row is written and the file closed (``rename``
within one filesystem is atomic). A run that fails or is interrupted (SIGINT, SIGTERM) deletes
its temporary files and leaves an existing output from an earlier run untouched; a run killed
outright (SIGKILL, OOM) cannot clean up, so every run first removes the temporary files an
earlier run of the same output left behind. Re-running over the same input and output is
therefore safe: the new files replace the old ones whole.

The rejects file is renamed into place before the answers file; both carry the run's id
(``request_id`` in the answers), so a reader can tell which run a file came from.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["AtomicDirectory", "AtomicParquet", "all_or_nothing", "clean_stale", "temporary_path"]


def temporary_path(final: Path, run_id: str) -> Path:
    return final.parent / f".{final.name}.tmp-{run_id}"


def clean_stale(final: Path) -> list[Path]:
    """Remove temporary files or folders an interrupted earlier run left next to ``final``."""
    removed = []
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


class AtomicParquet:
    """A Parquet file written under a temporary name, committed by one rename."""

    def __init__(
        self, final: Path, schema: pa.Schema, run_id: str, metadata: dict[str, str] | None = None
    ) -> None:
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = temporary_path(self.final, run_id)
        schema = schema.with_metadata({**(schema.metadata or {}), **(metadata or {})})
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self.temporary, schema, compression="zstd")
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._writer is not None, "already committed or aborted"
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        """Finish the file (footer written) without making it visible yet."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> Path:
        self.close()
        os.replace(self.temporary, self.final)
        return self.final

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        self._writer = None
        self.temporary.unlink(missing_ok=True)


class AtomicDirectory:
    """A folder filled by someone else (Spark's part files), committed by renames.

    A folder cannot replace a non-empty folder in one rename, so an existing output is first
    moved aside under a temporary name, the new one moved in, the old one deleted: a reader sees
    the old folder or the new one, and for an instant no folder at all.
    """

    def __init__(self, final: Path, run_id: str) -> None:
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.temporary = temporary_path(self.final, run_id)

    def commit(self) -> Path:
        old = temporary_path(self.final, f"{self.run_id}-old")
        if self.final.exists():
            if self.final.is_dir():
                os.replace(self.final, old)
            else:
                self.final.unlink()
        os.replace(self.temporary, self.final)
        shutil.rmtree(old, ignore_errors=True)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


@contextlib.contextmanager
def all_or_nothing(*outputs: AtomicParquet | AtomicDirectory) -> Iterator[None]:
    """Abort every output when the block raises (including KeyboardInterrupt and SystemExit)."""
    try:
        yield
    except BaseException:
        for out in outputs:
            out.abort()
        raise

"""The portfolio file, streamed in chunks with pyarrow: Parquet or CSV, only the columns used.

Columns: the online application fields (``applicant_id``, ``amount``, ``price``, ``term``), plus
``application_timestamp`` (the point in time of the features; not needed with ``--as-of``) and
optionally ``application_id``. Other columns are ignored. CSV cells are read as text and typed
cell by cell in ``batch.validation`` (a CSV has no types; a cell is a number when it is written
as one), so one odd cell rejects its row, not the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from credit_scoring.schema import Application

__all__ = [
    "APPLICATION_ID",
    "FIELDS",
    "TIMESTAMP",
    "InputError",
    "PortfolioFile",
]

TIMESTAMP = "application_timestamp"
APPLICATION_ID = "application_id"
FIELDS: tuple[str, ...] = tuple(name for name in Application.model_fields if name != APPLICATION_ID)
"""The online application fields, in the schema's order (the order problems are reported in).
The schema's optional ``application_id`` is carried beside them, as this job always did."""


class InputError(ValueError):
    """The input as a whole cannot be read (missing file, unknown format, missing column)."""


@dataclass(frozen=True)
class PortfolioFile:
    path: Path
    format: str
    """``parquet`` or ``csv`` (from the file name, else Parquet's magic bytes)."""
    columns: tuple[str, ...]
    """The columns this job reads (those present of the fields, timestamp and id)."""
    rows: int | None
    """Known up front for Parquet (its footer), None for CSV."""

    @classmethod
    def open(cls, path: Path, need_timestamp: bool) -> PortfolioFile:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"input {path} is not a file")
        fmt = _format_of(path)
        names, rows = _schema_of(path, fmt)
        wanted = [*FIELDS, TIMESTAMP, APPLICATION_ID]
        required = [*FIELDS, *([TIMESTAMP] if need_timestamp else [])]
        missing = [c for c in required if c not in names]
        if missing:
            hint = " (or give --as-of)" if missing == [TIMESTAMP] else ""
            raise InputError(f"input {path} lacks column(s) {', '.join(missing)}{hint}")
        return cls(path, fmt, tuple(c for c in wanted if c in names), rows)

    def batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        """Record batches of about ``rows`` rows, in file order, holding only ``columns``."""
        if self.format == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.path) as parquet:
                yield from parquet.iter_batches(batch_size=rows, columns=list(self.columns))
            return
        from pyarrow import csv

        reader = csv.open_csv(
            self.path,
            # ~40 bytes a row in a typical portfolio CSV: blocks of about ``rows`` rows.
            read_options=csv.ReadOptions(block_size=max(1 << 20, rows * 40)),
            convert_options=csv.ConvertOptions(
                include_columns=list(self.columns),
                column_types={c: pa.string() for c in self.columns},
                # Every empty cell is "no value" (JSON null), quoted or not.
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            if batch.num_rows:
                yield batch


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    with path.open("rb") as f:
        if f.read(4) == b"PAR1":
            return "parquet"
    raise InputError(f"input {path}: not Parquet (.parquet) or CSV (.csv)")


def _schema_of(path: Path, fmt: str) -> tuple[list[str], int | None]:
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as parquet:
                return list(parquet.schema_arrow.names), parquet.metadata.num_rows
        from pyarrow import csv

        reader = csv.open_csv(path, convert_options=csv.ConvertOptions(column_types={}))
        return list(reader.schema.names), None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"input {path} cannot be read as {fmt}: {exc}") from exc

"""Loan outcomes, loaded from the lender's systems into a table beside the inference log.

``credit-scoring outcomes load FILE`` reads a CSV or Parquet file with the columns
``application_id`` (the id the scoring request carried), ``defaulted`` (0/1, true/false) and
``observed_at`` (when the lender observed that status; ISO 8601, UTC when no offset is given)
and upserts it into ``outcomes``. Loading is idempotent: the same file twice changes
nothing, and a later observation of the same application replaces an earlier one (never the
other way round), so overlapping monthly extracts can simply be loaded in any order.

A file with any bad row is refused as a whole, every problem named by line; nothing is loaded.

"Matured" (what the drift job's realised metrics count) is defined in ``monitoring.performance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["OUTCOMES", "OUTCOME_COLUMNS", "LoadResult", "OutcomeFileError", "load_outcomes", "read_outcomes"]

_METADATA = sa.MetaData()

OUTCOMES = sa.Table(
    "outcomes",
    _METADATA,
    sa.Column("application_id", sa.String(64), primary_key=True),
    sa.Column("defaulted", sa.Boolean, nullable=False),
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
)
OUTCOME_COLUMNS = ("application_id", "defaulted", "observed_at")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_MAX_PROBLEMS = 20


class OutcomeFileError(ValueError):
    """The outcomes file cannot be loaded; ``problems`` lists what is wrong (by line)."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:_MAX_PROBLEMS])
        more = f" (and {len(problems) - _MAX_PROBLEMS} more)" if len(problems) > _MAX_PROBLEMS else ""
        super().__init__(f"{path}: {shown}{more}")


@dataclass(frozen=True)
class LoadResult:
    rows: int
    inserted: int
    updated: int
    unchanged: int

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


def _raw(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise OutcomeFileError(
            path, [f"cannot read it as {'Parquet' if path.suffix else 'CSV'}: {exc}"]
        ) from exc


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _when(value: Any) -> datetime | None:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def read_outcomes(path: Path) -> list[dict[str, Any]]:
    """The file's rows, validated (one per application id: the latest observation wins)."""
    path = Path(path)
    frame = _raw(path)
    missing = [c for c in OUTCOME_COLUMNS if c not in frame.columns]
    if missing:
        raise OutcomeFileError(
            path, [f"missing column(s) {', '.join(missing)} (need {', '.join(OUTCOME_COLUMNS)})"]
        )
    problems: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    # Line numbers as a spreadsheet shows them: the header is line 1.
    for line, (app, flag, seen) in enumerate(
        zip(frame["application_id"], frame["defaulted"], frame["observed_at"], strict=True), start=2
    ):
        app_id = str(app).strip()
        defaulted, observed = _flag(flag), _when(seen)
        if not app_id or len(app_id) > 64:
            problems.append(f"line {line}: application_id must be 1-64 characters")
        if defaulted is None:
            problems.append(f"line {line}: defaulted must be 0/1 or true/false, got {flag!r}")
        if observed is None:
            problems.append(f"line {line}: observed_at is not a date/time: {seen!r}")
        if problems and problems[-1].startswith(f"line {line}:"):
            continue
        earlier = rows.get(app_id)
        if earlier is None or observed >= earlier["observed_at"]:
            rows[app_id] = {"application_id": app_id, "defaulted": defaulted, "observed_at": observed}
    if problems:
        raise OutcomeFileError(path, problems)
    return list(rows.values())


def load_outcomes(engine: sa.Engine, path: Path, now: datetime | None = None) -> LoadResult:
    """Upsert the file's outcomes in one transaction (idempotent; a newer observation wins)."""
    rows = read_outcomes(path)
    now = now or datetime.now(UTC)
    from inference_log.migrations import upgrade

    upgrade(engine)  # the table comes from the inference log's migrations (revision 0002)
    ids = [r["application_id"] for r in rows]
    inserted = updated = 0
    with engine.begin() as conn:
        existing: dict[str, tuple[bool, datetime]] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = sa.select(OUTCOMES.c.application_id, OUTCOMES.c.defaulted, OUTCOMES.c.observed_at).where(
                OUTCOMES.c.application_id.in_(chunk)
            )
            for app_id, defaulted, observed in conn.execute(query):
                observed = observed if observed.tzinfo else observed.replace(tzinfo=UTC)
                existing[app_id] = (bool(defaulted), observed)
        changes = []
        for row in rows:
            before = existing.get(row["application_id"])
            if before is None:
                inserted += 1
            elif row["observed_at"] > before[1] or (
                row["observed_at"] == before[1] and row["defaulted"] != before[0]
            ):
                updated += 1
            else:
                continue
            changes.append({**row, "loaded_at": now})
        if changes:
            insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(OUTCOMES)
            statement = insert.on_conflict_do_update(
                index_elements=[OUTCOMES.c.application_id],
                set_={
                    "defaulted": insert.excluded.defaulted,
                    "observed_at": insert.excluded.observed_at,
                    "loaded_at": insert.excluded.loaded_at,
                },
            )
            conn.execute(statement, changes)
    return LoadResult(len(rows), inserted, updated, len(rows) - inserted - updated)

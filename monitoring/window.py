"""The current population: a window of the inference log, as a flat frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from credit_scoring.features import feature_names
from inference_log import LOG_TABLE, Role

__all__ = ["Window", "empty_window", "load_window"]

_COLUMNS = (
    "request_id",
    "row_index",
    "role",
    "logged_at",
    "model_version",
    "features",
    "pd",
    "score",
    "decision",
    "risk_band",
    "thin_file",
    "reason_codes",
    "latency_ms",
)


@dataclass(frozen=True)
class Window:
    """Champion records of the monitored version, and challenger records of the same window."""

    start: datetime
    end: datetime
    champion: pd.DataFrame
    challenger: pd.DataFrame


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    names = feature_names()
    base = pd.DataFrame.from_records(rows, columns=list(_COLUMNS))
    # Feature names missing from a record's JSON (an older model's log) become NaN columns.
    features = pd.DataFrame([r["features"] for r in rows], columns=names)
    # null in the log is a missing value: NaN, exactly what the booster saw.
    features = features.astype(np.float64)
    return pd.concat([base.drop(columns=["features"]), features], axis=1)


def load_window(
    engine: sa.Engine,
    model_name: str,
    version: str,
    start: datetime,
    end: datetime,
    max_records: int,
    challenger_version: str | None = None,
) -> Window:
    """Records in [start, end): champion rows of ``version`` (newest ``max_records``) and the
    challenger rows of the window (every version, or only ``challenger_version``)."""
    cols = [LOG_TABLE.c[name] for name in _COLUMNS]
    in_window = sa.and_(
        LOG_TABLE.c.model_name == model_name, LOG_TABLE.c.logged_at >= start, LOG_TABLE.c.logged_at < end
    )
    champion_q = (
        sa.select(*cols)
        .where(in_window, LOG_TABLE.c.role == Role.CHAMPION.value, LOG_TABLE.c.model_version == version)
        .order_by(LOG_TABLE.c.logged_at.desc())
        .limit(max_records)
    )
    challenger_q = (
        sa.select(*cols)
        .where(in_window, LOG_TABLE.c.role == Role.CHALLENGER.value)
        .where(sa.true() if challenger_version is None else LOG_TABLE.c.model_version == challenger_version)
        .order_by(LOG_TABLE.c.logged_at.desc())
        .limit(max_records)
    )
    with engine.connect() as conn:
        champion = [dict(r) for r in conn.execute(champion_q).mappings()]
        challenger = [dict(r) for r in conn.execute(challenger_q).mappings()]
    return Window(start=start, end=end, champion=_frame(champion), challenger=_frame(challenger))


def empty_window(start: datetime, end: datetime) -> Window:
    return Window(start=start, end=end, champion=_frame([]), challenger=_frame([]))

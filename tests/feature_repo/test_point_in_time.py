"""Point-in-time correctness: a profile change after the application never reaches its row.

Two angles: the whole prepared data set through the session's Feast (every training row equals
the profile version current at its application time, computed independently with pandas), and a
controlled change in a private repo on the embedded profile (SQLite online store, file
registry), where one applicant's profile changes a second before and a day after applying.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from credit_scoring.features import FEATURE_SERVICE, PROFILE_FIELDS
from feature_store import EMBEDDED_CONFIG, default_repo_path, open_store
from tests.feature_repo.conftest import same_value
from training.data import PROFILE_FILE, prepare
from training.dataset import training_frame
from training.feature_repo import apply, materialize

FIELDS = [f.name for f in PROFILE_FIELDS]


def _as_of_application(profile: pd.DataFrame, applications: pd.DataFrame) -> pd.DataFrame:
    """The version current at each application, by an independent (pandas) as-of join."""
    left = applications[["application_id", "applicant_id", "application_timestamp"]].sort_values(
        "application_timestamp"
    )
    right = profile.sort_values("event_timestamp")
    joined = pd.merge_asof(
        left,
        right,
        left_on="application_timestamp",
        right_on="event_timestamp",
        by="applicant_id",
        direction="backward",
    )
    return joined.set_index("application_id")


@pytest.fixture(scope="module")
def frame(credit_env) -> pd.DataFrame:
    return training_frame(credit_env.store, credit_env.applications).set_index("application_id")


def test_every_training_row_uses_the_version_current_at_application(credit_env, frame):
    expected = _as_of_application(credit_env.profile, credit_env.applications)
    assert len(frame) == len(expected) == len(credit_env.applications)
    mismatches = [
        (app_id, field, frame.at[app_id, field], expected.at[app_id, field])
        for field in FIELDS
        for app_id in expected.index
        if not same_value(frame.at[app_id, field], expected.at[app_id, field])
    ]
    assert not mismatches, mismatches[:10]


def test_arrears_recorded_after_default_do_not_leak_into_training(credit_env, frame):
    profile, apps = credit_env.profile, credit_env.applications.set_index("applicant_id")
    later = profile[
        profile["event_timestamp"] > apps.loc[profile["applicant_id"], "application_timestamp"].to_numpy()
    ]
    flipped = later[later["records"] == 1]["applicant_id"].unique()
    at_application = (
        _as_of_application(profile, credit_env.applications).reset_index().set_index("applicant_id")
    )
    leaks = [a for a in flipped if at_application.at[a, "records"] == 0]
    # The data really contains the trap: defaulters whose arrears were recorded after applying.
    assert len(leaks) > 20
    rows = frame.reset_index().set_index("applicant_id").loc[leaks]
    assert (rows["records"] == 0).all()
    assert (rows["default"] == 1).all()


def test_change_after_application_reaches_online_store_but_not_training_row(tmp_path):
    prepared = prepare(tmp_path / "data")
    app = prepared.applications.iloc[100]
    applied_at = app["application_timestamp"]
    base = prepared.profile[prepared.profile["applicant_id"] == app["applicant_id"]]
    current = base[base["event_timestamp"] <= applied_at].iloc[-1]
    before = current.copy()
    before["event_timestamp"] = applied_at - pd.Timedelta(seconds=1)
    before["income"] = 4321.0
    after = current.copy()
    after["event_timestamp"] = applied_at + pd.Timedelta(days=1)
    after["income"] = 98765.0
    after["records"] = 1 - current["records"]
    others = prepared.profile[prepared.profile["applicant_id"] != app["applicant_id"]]
    changed = pd.concat(
        [others, base[base["event_timestamp"] <= applied_at], before.to_frame().T, after.to_frame().T]
    )
    changed["created_timestamp"] = changed["event_timestamp"] + timedelta(minutes=5)
    changed = changed.astype(prepared.profile.dtypes.to_dict())
    changed.to_parquet(prepared.data_dir / PROFILE_FILE, index=False)

    repo = default_repo_path()
    store = open_store(repo / EMBEDDED_CONFIG, repo, {"CREDIT_HOME": str(tmp_path / "home")})
    apply(store, prepared.data_dir)
    materialize(store)

    row = training_frame(store, prepared.applications.iloc[[100]]).iloc[0]
    assert row["income"] == 4321.0  # the version one second before applying
    assert row["records"] == current["records"]  # not the later change
    assert row["instalment_to_income"] == pytest.approx(app["amount"] / app["term"] / 4321.0)

    online = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[
            {
                "applicant_id": app["applicant_id"],
                "amount": float(app["amount"]),
                "price": float(app["price"]),
                "term": int(app["term"]),
            }
        ],
    ).to_dict()
    assert online["income"] == [98765.0]
    assert online["records"] == [after["records"]]
    # The embedded profile really is SQLite + a file registry under CREDIT_HOME.
    assert (tmp_path / "home" / "feast" / "online_store.db").is_file()
    assert (tmp_path / "home" / "feast" / "registry.db").is_file()

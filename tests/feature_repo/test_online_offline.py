"""Feast applied and materialized into a real Redis: online values equal offline values.

The session ``credit_env`` applied the repo with the production profile (SQL registry on
PostgreSQL, Redis online store) and materialized it. For the same applicants, the online store
(``get_online_features`` through the feature service) must return exactly what the offline
store returns for a point in time after the last update, and what the Parquet table says is
each applicant's newest profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_scoring.features import AUDIT_ONLY_FIELDS, DERIVED_FIELDS, FEATURE_SERVICE, PROFILE_FIELDS, derive
from tests.feature_repo.conftest import latest_profiles, same_value
from training.data import DATA_AS_OF
from training.dataset import feature_refs

REQUEST = ("amount", "price", "term")


@pytest.fixture(scope="module")
def sample(credit_env) -> pd.DataFrame:
    """Applicants of every kind: updated after applying, with stale versions, missing income."""
    profile, apps = credit_env.profile, credit_env.applications
    versions = profile.groupby("applicant_id").size()
    multi = versions[versions > 1].index
    missing_income = profile.loc[profile["income"].isna(), "applicant_id"].unique()
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(multi, 25, replace=False)) | set(rng.choice(missing_income, 10, replace=False))
    chosen |= set(rng.choice(apps["applicant_id"], 15, replace=False))
    return apps[apps["applicant_id"].isin(chosen)].sort_values("applicant_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def online(credit_env, sample) -> pd.DataFrame:
    store = credit_env.feature_store()
    rows = [
        {"applicant_id": r.applicant_id, "amount": r.amount, "price": r.price, "term": int(r.term)}
        for r in sample.itertuples()
    ]
    result = store.get_online_features(features=store.get_feature_service(FEATURE_SERVICE), entity_rows=rows)
    return pd.DataFrame(result.to_dict()).set_index("applicant_id")


@pytest.fixture(scope="module")
def offline(credit_env, sample) -> pd.DataFrame:
    store = credit_env.feature_store()
    # "Now" for each applicant is just after their newest version: that is what materialize
    # loaded. (One common "now" would put some newest versions beyond the view's 365-day ttl,
    # which the offline store enforces and the online read does not.)
    latest = latest_profiles(credit_env.profile)
    entity_df = sample[["applicant_id", *REQUEST]].copy()
    entity_df["event_timestamp"] = latest.loc[
        entity_df["applicant_id"], "event_timestamp"
    ].to_numpy() + pd.Timedelta(seconds=1)
    assert (entity_df["event_timestamp"] <= pd.Timestamp(DATA_AS_OF)).all()
    frame = store.get_historical_features(entity_df=entity_df, features=feature_refs(store)).to_df()
    assert len(frame) == len(entity_df)
    return frame.set_index("applicant_id")


def _served_profile_fields() -> list[str]:
    return [f.name for f in PROFILE_FIELDS if f.name not in AUDIT_ONLY_FIELDS]


def test_online_store_holds_every_sampled_applicant(online, sample):
    assert sorted(online.index) == sorted(sample["applicant_id"])
    # Not a vacuous comparison: the online store really returned profile values.
    assert online["seniority"].notna().all()
    # The audit attributes are not part of the service (the model never sees them).
    assert not set(online.columns) & AUDIT_ONLY_FIELDS


@pytest.mark.parametrize("field", [*_served_profile_fields(), *(f.name for f in DERIVED_FIELDS)])
def test_online_equals_offline(online, offline, sample, field):
    mismatches = [
        (aid, online.at[aid, field], offline.at[aid, field])
        for aid in sample["applicant_id"]
        if not same_value(online.at[aid, field], offline.at[aid, field])
    ]
    assert not mismatches, f"{field}: online != offline for {mismatches[:5]}"


@pytest.mark.parametrize("field", _served_profile_fields())
def test_online_equals_latest_parquet_version(credit_env, online, sample, field):
    latest = latest_profiles(credit_env.profile)
    mismatches = [
        (aid, online.at[aid, field], latest.at[aid, field])
        for aid in sample["applicant_id"]
        if not same_value(online.at[aid, field], latest.at[aid, field])
    ]
    assert not mismatches, f"{field}: online != newest profile version for {mismatches[:5]}"


def test_on_demand_ratios_are_the_contract_derive(credit_env, online, sample):
    latest = latest_profiles(credit_env.profile).loc[sample["applicant_id"]]
    expected = derive(
        {
            **{c: sample[c].to_numpy() for c in REQUEST},
            **{c: latest[c].to_numpy() for c in ("income", "expenses", "assets", "debt")},
        }
    )
    for name, values in expected.items():
        got = online.loc[sample["applicant_id"], name].to_numpy(dtype=np.float64)
        np.testing.assert_allclose(got, values, rtol=1e-12, equal_nan=True, err_msg=name)
    # Missing income really reaches the model as missing ratios, not as 0 or inf.
    no_income = latest["income"].isna().to_numpy()
    assert no_income.any()
    assert np.isnan(
        online.loc[sample["applicant_id"], "instalment_to_income"].to_numpy(dtype=float)[no_income]
    ).all()


def test_unknown_applicant_gets_missing_profile(credit_env):
    store = credit_env.feature_store()
    result = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"applicant_id": "NOT-AN-APPLICANT", "amount": 1000.0, "price": 1500.0, "term": 36}],
    ).to_dict()
    assert result["income"] == [None]
    assert result["seniority"] == [None]
    assert "age" not in result
    # Ratios that need only request fields are still computed; the rest are missing.
    assert result["loan_to_value"][0] == pytest.approx(1000.0 / 1500.0)
    assert result["debt_to_income"][0] is None or np.isnan(result["debt_to_income"][0])

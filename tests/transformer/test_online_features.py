"""Both profile readers give exactly Feast's own answer, from a real Redis.

``direct`` (one pipelined Redis read with Feast's keys and value encoding, read by hand) is the
default; ``feast`` is Feast's own ``get_online_features_async``. Both are compared with each
other and with ``FeatureStore.get_online_features`` on the feature service, for every applicant
of the prepared data plus unknown ones (thin files), through the session Redis: a Feast upgrade
that changes the key layout, the hash fields or the value encoding fails here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from credit_scoring.features import feature_names, to_matrix
from credit_scoring.schema import Application
from tests.credit_env import CreditEnv
from transformer.online_features import OnlineFeatures

UNKNOWN = ["UNKNOWN-0001", "never-seen.applicant:42"]


def _applications(credit_env: CreditEnv, limit: int | None = None) -> list[Application]:
    frame = credit_env.applications.sort_values("applicant_id")
    rows = frame.head(limit) if limit else frame
    apps = [
        Application(
            applicant_id=r.applicant_id, amount=float(r.amount), price=float(r.price), term=int(r.term)
        )
        for r in rows.itertuples()
    ]
    return apps + [Application(applicant_id=u, amount=900.0, price=1000.0, term=12) for u in UNKNOWN]


def _feast_matrix(credit_env: CreditEnv, apps: list[Application]) -> tuple[np.ndarray, dict[str, list]]:
    store = credit_env.feature_store()
    answer = store.get_online_features(
        features=store.get_feature_service("credit_model_v1"),
        entity_rows=[a.model_dump() for a in apps],
    ).to_dict()
    # Feast answers the features only; the request fields go into the matrix as they are (as the
    # entity dataframe carries them into training).
    columns = {**answer, **{k: [getattr(a, k) for a in apps] for k in ("amount", "price", "term")}}
    return to_matrix(columns, len(apps)), answer


@pytest.mark.parametrize("read", ["direct", "feast"])
async def test_read_path_equals_feast_get_online_features(credit_env: CreditEnv, read: str):
    apps = _applications(credit_env)
    features = OnlineFeatures(credit_env.feature_store(), "credit_model_v1", read=read, timeout=30)
    assert features.read == read
    try:
        batch = await features.lookup(apps)
    finally:
        await features.close()
    expected, answer = _feast_matrix(credit_env, apps)
    assert batch.matrix.shape == (len(apps), len(feature_names()))
    np.testing.assert_array_equal(batch.matrix, expected)  # bit for bit, NaN where Feast has None
    # The profile values themselves, before encoding, too.
    for name in features.profile_features:
        ours = [None if isinstance(v, float) and math.isnan(v) else v for v in list(batch.columns[name])]
        assert ours == answer[name], name
    known = len(apps) - len(UNKNOWN)
    assert batch.has_profile[:known].all()
    assert not batch.has_profile[known:].any()
    profile_columns = [feature_names().index(n) for n in features.profile_features]
    assert np.isnan(batch.matrix[known:][:, profile_columns]).all()


async def test_both_readers_read_the_same_profiles(credit_env: CreditEnv):
    """Reader against reader, before any assembly: values, types and who has a profile."""
    apps = _applications(credit_env)
    ids = [a.applicant_id for a in apps]
    answers = {}
    for read in ("direct", "feast"):
        features = OnlineFeatures(credit_env.feature_store(), "credit_model_v1", read=read, timeout=30)
        try:
            answers[read] = await features.reader.read(ids)
        finally:
            await features.close()
    direct, feast = answers["direct"], answers["feast"]
    assert direct.has_profile == feast.has_profile
    assert direct.values.keys() == feast.values.keys()
    for name in direct.values:
        assert [(type(v), v) for v in direct.values[name]] == [(type(v), v) for v in feast.values[name]], name


async def test_direct_read_is_one_round_trip_for_the_whole_batch(credit_env: CreditEnv):
    import redis

    apps = _applications(credit_env, limit=1000)
    client = redis.Redis(port=credit_env.redis.port)
    before = client.info("stats")["total_commands_processed"]
    features = OnlineFeatures(credit_env.feature_store(), "credit_model_v1", read="direct")
    try:
        await features.lookup(apps)
    finally:
        await features.close()
    commands = client.info("stats")["total_commands_processed"] - before
    # One pipelined HMGET per applicant in one write (the INFO calls count too).
    assert commands <= len(apps) + 2

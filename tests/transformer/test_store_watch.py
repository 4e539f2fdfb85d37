"""The materialization marker's verdicts (``transformer.store_watch``), on a real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from credit_scoring.errors import OnlineStoreNotReady
from feature_store.marker import Marker, read_marker, redis_address, write_marker
from transformer.store_watch import STORE_READY, OnlineStoreWatch

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
PROJECT = "credit_scoring"


def _marker(age: timedelta) -> Marker:
    return Marker(NOW - timedelta(days=900), NOW - timedelta(days=1), NOW - age)


def test_marker_round_trips_and_rejects_foreign_values():
    marker = _marker(timedelta(minutes=5))
    assert Marker.from_bytes(marker.to_bytes()) == marker
    assert marker.age_seconds(NOW) == 300
    with pytest.raises(ValueError, match="not a materialization marker"):
        Marker.from_bytes(b'{"something": "else"}')


def test_redis_address_from_feasts_connection_string():
    address = redis_address("redis.example:6380,password=s3cret,db=2,ssl=true")
    assert (address.host, address.port, address.db, address.password, address.ssl) == (
        "redis.example",
        6380,
        2,
        "s3cret",
        True,
    )
    assert "s3cret" not in str(address)


@pytest.mark.parametrize(
    ("raw", "max_age", "code"),
    [
        (None, None, "online_store_empty"),
        (b"garbage", None, "online_store_empty"),
        (_marker(timedelta(hours=3)).to_bytes(), 3600.0, "online_store_stale"),
        (_marker(timedelta(minutes=5)).to_bytes(), 3600.0, None),
        (_marker(timedelta(days=400)).to_bytes(), None, None),  # no maximum age: any age
    ],
)
def test_verdicts(raw, max_age, code):
    watch = OnlineStoreWatch(redis_address("127.0.0.1:1"), PROJECT, max_age_seconds=max_age)
    verdict = watch.judge(raw, NOW)
    assert verdict.ok is (code is None)
    assert verdict.code == code


def test_observe_raises_the_stores_503_with_its_code_and_recovers():
    watch = OnlineStoreWatch(redis_address("127.0.0.1:1"), PROJECT)
    changes: list[bool] = []
    watch.on_change(changes.append)
    with pytest.raises(OnlineStoreNotReady, match="re-materialize") as raised:
        watch.observe(None)
    assert (raised.value.status_code, raised.value.code) == (503, "online_store_empty")
    with pytest.raises(OnlineStoreNotReady):
        watch.require()  # the cached verdict, no I/O
    assert STORE_READY._value.get() == 0
    watch.observe(_marker(timedelta(0)).to_bytes())
    watch.require()
    assert changes == [False, True]
    assert STORE_READY._value.get() == 1


def test_observe_judges_each_change_of_the_marker_bytes():
    """``observe`` reuses the verdict of bytes it saw last; any other bytes are judged afresh."""
    watch = OnlineStoreWatch(redis_address("127.0.0.1:1"), PROJECT)
    good = _marker(timedelta(0)).to_bytes()
    for _ in range(3):
        watch.observe(good)
    with pytest.raises(OnlineStoreNotReady, match="unreadable"):
        watch.observe(b"garbage")
    with pytest.raises(OnlineStoreNotReady, match="unreadable"):
        watch.observe(b"garbage")  # the same bad bytes, the same verdict
    watch.observe(good)
    watch.require()
    with pytest.raises(OnlineStoreNotReady, match="re-materialize"):
        watch.observe(None)


def test_background_check_follows_a_real_redis(redis_factory):
    server = redis_factory()
    address = redis_address(f"127.0.0.1:{server.port}")
    watch = OnlineStoreWatch(address, PROJECT, check_seconds=0.1)
    assert watch.check_now() is not None
    assert not watch.ok
    with address.client() as client:
        assert write_marker(client, PROJECT, _marker(timedelta(0)))
        assert read_marker(client, PROJECT) == _marker(timedelta(0))
        # An incremental run never vouches for a store that lost the marker meanwhile.
        client.flushall()
        assert not write_marker(client, PROJECT, _marker(timedelta(0)), only_if_present=True)
        assert read_marker(client, PROJECT) is None
        write_marker(client, PROJECT, Marker(NOW, NOW, datetime.now(UTC)))
    verdict = watch.check_now()
    assert verdict is not None
    assert verdict.ok
    assert watch.ok
    server.stop()
    started = time.monotonic()
    assert watch.check_now() is None  # an outage is not judged: lookups report it
    # Within the client timeout (1 s): redis-py's default retries took ~9 s on a refused port.
    assert time.monotonic() - started < 3.0
    assert watch.ok

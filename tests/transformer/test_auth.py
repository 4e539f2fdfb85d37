"""``transformer.auth`` and ``transformer.rate_limit`` without a server: hashed keys per client,
rotation by file change, both headers, and the token bucket."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from credit_scoring.errors import RateLimited, Unauthenticated
from transformer.auth import ApiKeys, Authenticator, hash_key, read_key_hashes
from transformer.rate_limit import RateLimiter


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    # Make the change visible to an mtime check even within the file system's resolution.
    stamp = time.time() + 2
    os.utime(path, (stamp, stamp))


def test_a_key_is_stored_only_as_its_sha256(tmp_path: Path):
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# comment\nbank-a:{hash_key('key-a1')}\nbank-a:{hash_key('key-a2')}\n")
    assert "key-a1" not in keys_file.read_text()
    keys = ApiKeys(keys_file)
    assert keys.client_for("key-a1") == keys.client_for("key-a2") == "bank-a"  # rotation: both valid
    assert keys.client_for("key-a3") is None
    assert keys.client_for(hash_key("key-a1")) is None  # the stored hash is not a key


def test_malformed_lines_are_skipped_without_logging_their_content(tmp_path: Path, caplog):
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"plaintext-secret-key\nbank-b:{hash_key('k')}\n")
    assert read_key_hashes(keys_file) == [("bank-b", hash_key("k"))]
    assert "plaintext-secret-key" not in caplog.text
    assert "line 1" in caplog.text


def test_a_secret_directory_gives_one_client_per_file_and_ignores_the_volumes_own_entries(tmp_path: Path):
    (tmp_path / "bank-c").write_text(hash_key("kc") + "\n")
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "bank-x").write_text(hash_key("kx") + "\n")
    keys = ApiKeys(tmp_path)
    assert keys.client_for("kc") == "bank-c"
    assert keys.client_for("kx") is None


def test_a_changed_file_is_reloaded_without_restart(tmp_path: Path):
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"bank-a:{hash_key('old')}\n")
    keys = ApiKeys(keys_file, check_seconds=0)
    assert keys.client_for("old") == "bank-a"
    _write(keys_file, f"bank-a:{hash_key('new')}\n")
    assert keys.client_for("new") == "bank-a"
    assert keys.client_for("old") is None
    keys_file.unlink()  # an unreadable file keeps the last good keys
    assert keys.client_for("new") == "bank-a"


def test_a_missing_file_at_start_up_is_an_error(tmp_path: Path):
    with pytest.raises(OSError):
        ApiKeys(tmp_path / "absent")


@pytest.mark.parametrize(
    "headers",
    [{b"x-api-key": b"key-1"}, {b"authorization": b"Bearer key-1"}, {b"authorization": b"bearer  key-1"}],
)
def test_the_key_header_and_a_bearer_token_both_authenticate(tmp_path: Path, headers):
    (tmp_path / "keys").write_text(f"bank-a:{hash_key('key-1')}\n")
    assert Authenticator(ApiKeys(tmp_path / "keys")).client(headers) == "bank-a"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {b"x-api-key": b""},
        {b"x-api-key": b"key-2"},
        {b"authorization": b"Basic key-1"},
        {b"x-other": b"key-1"},
    ],
)
def test_missing_or_wrong_credentials_are_unauthenticated(tmp_path: Path, headers):
    (tmp_path / "keys").write_text(f"bank-a:{hash_key('key-1')}\n")
    with pytest.raises(Unauthenticated, match="unauthenticated"):
        Authenticator(ApiKeys(tmp_path / "keys"))(headers)


def test_auth_off_lets_anyone_in_as_anonymous():
    assert Authenticator(None).client({}) == "anonymous"
    assert Authenticator(None, client_header=b"x-credit-client").client({}) == "anonymous"


def test_auth_off_behind_a_jwt_gateway_counts_the_client_it_names():
    """The gateway writes the JWT's subject into the client header: each subject its own bucket."""
    guard = Authenticator(
        None, limiter=RateLimiter(rate=0.001, burst=1, clock=_Clock()), client_header=b"x-credit-client"
    )
    guard({b"x-credit-client": b"bank-a"})
    with pytest.raises(RateLimited):
        guard({b"x-credit-client": b"bank-a"})
    guard({b"x-credit-client": b"bank-b"})
    assert guard.client({b"x-credit-client": b"x" * 10_000}) == "x" * 256


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_client_has_its_own_bucket_and_is_told_when_to_retry():
    clock = _Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("bank-a")
    with pytest.raises(RateLimited) as refused:
        limiter.take("bank-a")
    assert refused.value.retry_after_seconds == 1
    limiter.take("bank-b")  # another client is not affected
    clock.now += 0.5  # one token back at 2 per second
    limiter.take("bank-a")
    with pytest.raises(RateLimited):
        limiter.take("bank-a")


def test_the_limiter_is_applied_to_the_authenticated_client(tmp_path: Path):
    (tmp_path / "keys").write_text(f"bank-a:{hash_key('ka')}\nbank-b:{hash_key('kb')}\n")
    guard = Authenticator(
        ApiKeys(tmp_path / "keys"), limiter=RateLimiter(rate=0.001, burst=1, clock=_Clock())
    )
    guard({b"x-api-key": b"ka"})
    with pytest.raises(RateLimited):
        guard({b"x-api-key": b"ka"})
    guard({b"x-api-key": b"kb"})


def _refused(reason: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("credit_requests_refused_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({b"authorization": b"Basic ka"}, "missing"),
        ({b"x-api-key": b"wrong"}, "invalid_key"),
        ({b"authorization": b"Bearer wrong"}, "invalid_key"),
        ({b"x-api-key": b"ka"}, "rate_limited"),  # the second request of a one-request budget
    ],
)
def test_each_refusal_is_counted_by_its_reason_and_nothing_else(tmp_path: Path, headers, reason):
    from transformer.metrics import REFUSAL_REASONS

    (tmp_path / "keys").write_text(f"bank-a:{hash_key('ka')}\n")
    guard = Authenticator(
        ApiKeys(tmp_path / "keys"), limiter=RateLimiter(rate=0.001, burst=1, clock=_Clock())
    )
    guard({b"x-api-key": b"ka"})  # spends the budget; an accepted request is no refusal
    before = {r: _refused(r) for r in REFUSAL_REASONS}
    with pytest.raises((Unauthenticated, RateLimited)):
        guard(headers)
    after = {r: _refused(r) for r in REFUSAL_REASONS}
    assert {r: after[r] - before[r] for r in REFUSAL_REASONS if after[r] != before[r]} == {reason: 1.0}


def test_auth_off_is_explicit_and_loud(caplog):
    from transformer.server import build_guard
    from transformer.settings import TransformerSettings

    with caplog.at_level("WARNING", logger="transformer.server"):
        guard = build_guard(TransformerSettings(auth="off"))
    assert guard.keys is None
    assert "AUTHENTICATION IS OFF" in caplog.text


def test_auth_on_without_a_key_file_refuses_to_start(tmp_path: Path):
    from transformer.server import build_guard
    from transformer.settings import TransformerSettings

    assert TransformerSettings().auth == "api-key"  # the default
    with pytest.raises(SystemExit, match="CREDIT_AUTH=off"):
        build_guard(TransformerSettings(api_keys_path=tmp_path / "absent"))

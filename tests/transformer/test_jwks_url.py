"""``transformer.jwks_url`` against a real HTTP server (``python -m http.server`` on a loopback
port) publishing the issuer's key set: fetched at start, rotated keys picked up on an unknown
``kid`` and on schedule, the last good keys kept while the server is down, fetches bounded however
many unknown kids arrive, and a transformer that never fetched a set refuses to start."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from credit_scoring.errors import Unauthenticated
from tests.servers import Process, eventually, free_port, start_process, wait_http
from tests.transformer.jwt_keys import AUDIENCE, ISSUER, Issuer, new_issuer
from transformer.jwks_url import JwksUrl
from transformer.jwt_auth import JwtVerifier


def _fetches(outcome: str) -> float:
    return REGISTRY.get_sample_value("credit_jwks_fetches_total", {"outcome": outcome}) or 0.0


def _serve(directory: Path, port: int) -> Process:
    argv = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(directory),
    ]
    server = start_process(f"jwks-{port}", argv, directory.parent)
    wait_http(server, f"http://127.0.0.1:{port}/jwks.json", timeout=30)
    return server


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    (tmp_path / "www").mkdir()
    return new_issuer(tmp_path / "www")


@pytest.fixture
def idp(issuer: Issuer) -> Iterator[tuple[Process, str]]:
    port = free_port()
    server = _serve(issuer.jwks_path.parent, port)
    try:
        yield server, f"http://127.0.0.1:{port}/jwks.json"
    finally:
        server.stop()


@pytest.fixture
def key_set(idp: tuple[Process, str]) -> Iterator[Callable[..., JwksUrl]]:
    """``key_set(**bounds)``: a ``JwksUrl`` on the test's server, closed after the test."""
    made: list[JwksUrl] = []

    def make(**bounds: float) -> JwksUrl:
        made.append(JwksUrl(idp[1], **bounds))
        return made[-1]

    yield make
    for keys in made:
        keys.close()


def _subject(keys: JwksUrl, token: str) -> str | None:
    try:
        return JwtVerifier(keys, ISSUER, AUDIENCE).subject(token)
    except Unauthenticated:
        return None


def test_keys_are_fetched_at_start_and_a_rotation_is_picked_up(
    issuer: Issuer, key_set: Callable[..., JwksUrl]
):
    keys = key_set(refresh_seconds=3600, min_interval_seconds=0.2)
    assert len(keys) == 2
    assert _subject(keys, issuer.token("rsa-1")) == "bank-a"
    # The provider publishes a new key and signs with it at once: the first token is refused
    # (the guard never blocks on the network) and triggers the fetch that lets the next in.
    issuer.add_rsa("rsa-2")
    issuer.publish("rsa-1", "rsa-2")
    with pytest.raises(Unauthenticated) as refused:
        JwtVerifier(keys, ISSUER, AUDIENCE).subject(issuer.token("rsa-2"))
    assert refused.value.reason == "unknown_kid"
    eventually(lambda: _subject(keys, issuer.token("rsa-2")) == "bank-a", 10, "the new key fetched")
    assert _subject(keys, issuer.token("rsa-1")) == "bank-a"


def test_a_removed_key_is_dropped_by_the_scheduled_refresh(issuer: Issuer, key_set: Callable[..., JwksUrl]):
    keys = key_set(refresh_seconds=1, min_interval_seconds=0)
    assert _subject(keys, issuer.token("ec-1")) == "bank-a"
    issuer.publish("rsa-1")  # ec-1 retired; no token asks for anything unknown
    eventually(lambda: _subject(keys, issuer.token("ec-1")) is None, 10, "ec-1 dropped")
    assert _subject(keys, issuer.token("rsa-1")) == "bank-a"


def test_the_last_good_keys_are_kept_while_the_server_is_down_or_serves_garbage(
    issuer: Issuer, idp: tuple[Process, str], key_set: Callable[..., JwksUrl]
):
    server, _ = idp
    keys = key_set(refresh_seconds=0.3, min_interval_seconds=0, timeout_seconds=1)
    failures = _fetches("failure")
    issuer.jwks_path.write_text("{not json")
    eventually(lambda: _fetches("failure") > failures, 10, "a failed fetch of a broken set")
    assert _subject(keys, issuer.token("rsa-1")) == "bank-a"
    server.stop()
    failures = _fetches("failure")
    eventually(lambda: _fetches("failure") >= failures + 2, 10, "failed fetches with the server down")
    assert _subject(keys, issuer.token("rsa-1")) == "bank-a"
    assert _subject(keys, issuer.token("ec-1")) == "bank-a"


def test_unknown_kids_cannot_make_it_fetch_faster_than_its_minimum_interval(
    issuer: Issuer, key_set: Callable[..., JwksUrl]
):
    keys = key_set(refresh_seconds=3600, min_interval_seconds=1.0)
    other = Issuer(issuer.jwks_path.parent / "unpublished.json")
    for n in range(5):
        other.add_ec(f"made-up-{n}")
    tokens = [other.token(f"made-up-{n % 5}") for n in range(200)]
    before = _fetches("success") + _fetches("failure")
    started = time.monotonic()
    for token in tokens:
        assert _subject(keys, token) is None
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    time.sleep(1.2)  # let a pending fetch land
    fetched = _fetches("success") + _fetches("failure") - before
    assert 1 <= fetched <= elapsed / 1.0 + 2


def test_a_plain_http_url_is_used_with_a_warning(issuer: Issuer, idp: tuple[Process, str], caplog):
    from transformer.server import build_guard
    from transformer.settings import TransformerSettings

    _, url = idp
    settings = TransformerSettings(auth="jwt", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=url)
    with caplog.at_level("WARNING"):
        guard = build_guard(settings)
    try:
        assert guard.client({b"authorization": f"Bearer {issuer.token('ec-1')}".encode()}) == "bank-a"
        assert "CREDIT_JWKS_URL is plain http" in caplog.text
    finally:
        guard.jwt.keys.close()


def test_a_set_never_fetched_stops_the_start_with_the_url_named(issuer: Issuer, idp: tuple[Process, str]):
    from transformer.server import build_guard
    from transformer.settings import TransformerSettings

    _, url = idp
    down = f"http://127.0.0.1:{free_port()}/jwks.json"
    for unusable in (down, url.replace("jwks.json", "absent.json")):
        settings = TransformerSettings(
            auth="jwt", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=unusable
        )
        with pytest.raises(SystemExit, match=r"CREDIT_JWKS_URL=.*nothing was ever fetched"):
            build_guard(settings)

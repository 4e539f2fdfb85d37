"""``transformer.jwt_auth`` with real RSA and EC keys: every way a token can be wrong is a 401,
the client is the token's subject, and signing keys rotate by rewriting the JWKS file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from credit_scoring.errors import RateLimited, Unauthenticated
from tests.transformer.jwt_keys import AUDIENCE, ISSUER, Issuer, new_issuer, tampered, unsigned
from transformer.auth import Authenticator
from transformer.jwt_auth import JwksFile, JwtVerifier, read_jwks
from transformer.rate_limit import RateLimiter


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    return new_issuer(tmp_path)


def _guard(issuer: Issuer, limiter: RateLimiter | None = None) -> Authenticator:
    verifier = JwtVerifier(JwksFile(issuer.jwks_path, check_seconds=0), ISSUER, AUDIENCE, leeway_seconds=5)
    return Authenticator(None, limiter=limiter, jwt=verifier)


def _bearer(token: str) -> dict[bytes, bytes]:
    return {b"authorization": f"Bearer {token}".encode()}


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_a_valid_token_authenticates_its_subject(issuer: Issuer, kid: str):
    assert _guard(issuer).client(_bearer(issuer.token(kid, sub="bank-b"))) == "bank-b"


def test_an_audience_list_containing_ours_is_accepted(issuer: Issuer):
    token = issuer.token(aud=["other-api", AUDIENCE])
    assert _guard(issuer).client(_bearer(token)) == "bank-a"


def _wrong_tokens(issuer: Issuer) -> dict[str, str]:
    other = Issuer(issuer.jwks_path.parent / "other.json")
    other.add_rsa("rsa-1")  # same kid, another key: the signature cannot verify
    now = int(time.time())
    return {
        "expired": issuer.token(exp=now - 60),
        "not yet valid": issuer.token(nbf=now + 600),
        "wrong audience": issuer.token(aud="another-api"),
        "wrong issuer": issuer.token(iss="https://evil.test/"),
        "unknown kid": _with_kid(issuer, "rsa-9"),
        "no kid": _with_kid(issuer, None),
        "signed by another key": other.token("rsa-1"),
        "claims changed after signing": tampered(issuer.token(), sub="bank-z"),
        "alg none": unsigned(issuer.token()),
        "no exp": issuer.token(exp=None),
        "no sub": issuer.token(sub=None),
        "empty sub": issuer.token(sub=""),
        "not a JWT": "not.a.jwt",
        "garbage": "%%%",
    }


def _with_kid(issuer: Issuer, kid: str | None) -> str:
    import jwt

    headers = {"kid": kid} if kid else {}
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bank-a", "exp": now + 300}
    # PyJWT adds no kid by itself; signed by a published key so only the kid is wrong.
    return jwt.encode(claims, issuer.keys["rsa-1"], algorithm="RS256", headers=headers or None)


WRONG = {
    # case: the reason the transformer logs (so each case fails for the reason it names)
    "expired": "ExpiredSignatureError",
    "not yet valid": "ImmatureSignatureError",
    "wrong audience": "InvalidAudienceError",
    "wrong issuer": "InvalidIssuerError",
    "unknown kid": "unknown kid",
    "no kid": "unknown kid",
    "signed by another key": "InvalidSignatureError",
    "claims changed after signing": "InvalidSignatureError",
    "alg none": "InvalidAlgorithmError",
    "no exp": "MissingRequiredClaimError",
    "no sub": "MissingRequiredClaimError",
    "empty sub": "sub is not a short string",
    "not a JWT": "DecodeError",
    "garbage": "DecodeError",
}


@pytest.mark.parametrize(("case", "reason"), WRONG.items())
def test_every_wrong_token_is_unauthenticated(issuer: Issuer, case: str, reason: str, caplog):
    token = _wrong_tokens(issuer)[case]
    with (
        caplog.at_level("INFO", logger="transformer.jwt_auth"),
        pytest.raises(Unauthenticated, match="unauthenticated"),
    ):
        _guard(issuer)(_bearer(token))
    assert f"JWT refused: {reason}" in caplog.text
    assert token not in caplog.text  # the reason is logged, never the token


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired"),
        ("unknown kid", "unknown_kid"),
        ("no kid", "unknown_kid"),
        ("wrong audience", "invalid_token"),
        ("alg none", "invalid_token"),
        ("garbage", "invalid_token"),
        ("empty sub", "invalid_token"),
        (None, "missing"),
    ],
)
def test_each_refused_token_is_counted_by_its_reason(issuer: Issuer, case: str | None, reason: str):
    from tests.transformer.test_auth import _refused

    headers = _bearer(_wrong_tokens(issuer)[case]) if case else {b"x-api-key": b"not a token"}
    before = _refused(reason)
    with pytest.raises(Unauthenticated) as refused:
        _guard(issuer)(headers)
    assert refused.value.reason == reason
    assert str(refused.value) == "unauthenticated"  # the reason is the operator's, not the caller's
    assert _refused(reason) == before + 1


def test_an_hmac_token_signed_with_the_public_key_is_refused(issuer: Issuer):
    """The classic algorithm confusion: HS256 with the RSA public key as the shared secret."""
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    from tests.transformer.jwt_keys import _b64

    public = (
        issuer.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bank-a", "exp": int(time.time()) + 300}
    body = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(Unauthenticated):
        _guard(issuer)(_bearer(f"{header}.{body}.{signature}"))


def test_an_api_key_header_is_no_credential_in_jwt_mode(issuer: Issuer):
    with pytest.raises(Unauthenticated):
        _guard(issuer)({b"x-api-key": issuer.token().encode()})


def test_signing_keys_rotate_by_rewriting_the_jwks_file(issuer: Issuer):
    guard = _guard(issuer)
    assert guard.client(_bearer(issuer.token("rsa-1"))) == "bank-a"
    issuer.add_rsa("rsa-2")
    with pytest.raises(Unauthenticated):  # not yet published
        guard.client(_bearer(issuer.token("rsa-2")))
    issuer.publish("rsa-1", "rsa-2")  # step 1: both keys
    assert guard.client(_bearer(issuer.token("rsa-2"))) == "bank-a"
    assert guard.client(_bearer(issuer.token("rsa-1"))) == "bank-a"
    issuer.publish("rsa-2")  # step 2: the old key removed
    with pytest.raises(Unauthenticated):
        guard.client(_bearer(issuer.token("rsa-1")))
    issuer.jwks_path.write_text("{not json")  # a broken file keeps the last good keys
    assert guard.client(_bearer(issuer.token("rsa-2"))) == "bank-a"


def test_symmetric_and_kid_less_keys_in_the_set_are_ignored(tmp_path: Path):
    path = tmp_path / "jwks.json"
    path.write_text(
        '{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}, {"kty": "RSA", "n": "x", "e": "AQAB"}]}'
    )
    assert read_jwks(path) == {}


def test_a_file_that_is_no_key_set_is_an_error_at_start_up(tmp_path: Path):
    (tmp_path / "jwks.json").write_text("[]")
    with pytest.raises(ValueError, match="not a JSON Web Key Set"):
        JwksFile(tmp_path / "jwks.json")
    with pytest.raises(OSError):
        JwksFile(tmp_path / "absent.json")


def test_the_rate_limit_applies_per_subject(issuer: Issuer):
    from tests.transformer.test_auth import _Clock

    guard = _guard(issuer, RateLimiter(rate=0.001, burst=1, clock=_Clock()))
    guard(_bearer(issuer.token(sub="bank-a")))
    with pytest.raises(RateLimited):
        guard(_bearer(issuer.token(sub="bank-a")))
    guard(_bearer(issuer.token(sub="bank-b")))


def test_jwt_mode_needs_issuer_and_audience_and_a_readable_jwks(tmp_path: Path):
    from pydantic import ValidationError

    from transformer.server import build_guard
    from transformer.settings import TransformerSettings

    with pytest.raises(ValidationError, match="jwt_issuer and jwt_audience"):
        TransformerSettings(auth="jwt", jwt_issuer=ISSUER)
    settings = TransformerSettings(
        auth="jwt", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_path=tmp_path / "absent.json"
    )
    with pytest.raises(SystemExit, match="CREDIT_JWKS_PATH"):
        build_guard(settings)

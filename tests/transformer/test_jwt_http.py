"""``CREDIT_AUTH=jwt`` on a real transformer: a token signed by a key of the mounted JWKS scores
over HTTP and gRPC, a wrong one is 401 with the refusal body, the rate limit is per subject, and
a signing key added to the file is accepted without a restart."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.credit_env import CreditEnv
from tests.servers import wait_for
from tests.transformer.conftest import V1, Launcher, Server, applications_input, v1_body
from tests.transformer.jwt_keys import AUDIENCE, ISSUER, new_issuer


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_jwt_authenticates_http_and_grpc_and_keys_rotate_without_restart(
    launcher: Launcher, predictor: Server, credit_env: CreditEnv
):
    import grpc
    from kserve import InferenceGRPCClient, InferRequest

    issuer = new_issuer(launcher.workdir)
    server = launcher.transformer(
        predictor,
        auth="jwt",
        jwks_path=issuer.jwks_path,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        rate_limit_per_second="0.05",
        rate_limit_burst="2",
    )
    url = f"{server.url}{V1}"
    body = v1_body(credit_env)

    ok = httpx.post(url, json=body, headers=_bearer(issuer.token(sub="bank-a")), timeout=30)
    assert ok.status_code == 200, ok.text
    expired = issuer.token(exp=int(time.time()) - 120)
    refused = [
        httpx.post(url, json=body, headers={**_bearer(token), "x-request-id": "jwt-1"}, timeout=30)
        for token in (expired, issuer.token(aud="other"), server.api_key or "")
    ]
    for reply in refused:
        assert reply.status_code == 401
        assert reply.json() == {"error": "unauthenticated", "code": "unauthenticated", "request_id": "jwt-1"}
    # An API key is no credential in jwt mode, in its header either.
    assert httpx.post(url, json=body, headers=server.auth, timeout=30).status_code == 401

    # The rate limit is the subject's: bank-a has spent one of its two, bank-b has its own.
    second = httpx.post(url, json=body, headers=_bearer(issuer.token("ec-1", sub="bank-a")), timeout=30)
    assert second.status_code == 200
    limited = httpx.post(url, json=body, headers=_bearer(issuer.token(sub="bank-a")), timeout=30)
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert (
        httpx.post(url, json=body, headers=_bearer(issuer.token(sub="bank-b")), timeout=30).status_code == 200
    )

    # gRPC: the same token in the call's metadata.
    inputs = applications_input(body["instances"])
    client = InferenceGRPCClient(server.grpc_target, timeout=30)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as no_token:
            await client.infer(InferRequest(model_name="credit-scoring", infer_inputs=inputs))
        assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert no_token.value.details() == "unauthenticated"
        scored = await client.infer(
            InferRequest(model_name="credit-scoring", infer_inputs=inputs),
            headers=(("authorization", f"Bearer {issuer.token(sub='bank-c')}"),),
        )
        assert scored.get_output_by_name("answers") is not None
    finally:
        await client.close()

    # Rotation: a new signing key, published by rewriting the mounted file, no restart.
    issuer.add_rsa("rsa-2")
    new_key = _bearer(issuer.token("rsa-2", sub="bank-d"))
    assert httpx.post(url, json=body, headers=new_key, timeout=30).status_code == 401
    issuer.publish("rsa-2")
    wait_for(
        server.process,
        lambda: httpx.post(url, json=body, headers=new_key, timeout=30).status_code == 200,
        timeout=30,
        what="the new signing key accepted",
    )
    old_key = _bearer(issuer.token("rsa-1", sub="bank-e"))
    assert httpx.post(url, json=body, headers=old_key, timeout=30).status_code == 401

"""Real signing keys for the JWT tests: an issuer with RSA and EC keys, its JWKS file, tokens."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.bank-a.test/"
AUDIENCE = "credit-scoring"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Issuer:
    """An identity provider: private keys by kid, the public half published in ``jwks_path``."""

    jwks_path: Path
    keys: dict[str, Any] = field(default_factory=dict)

    def add_rsa(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def add_ec(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def publish(self, *kids: str) -> None:
        """Write the JWKS with the public keys of ``kids`` (default all), as a new file with a
        later modification time, like the kubelet's swap of a mounted ConfigMap."""
        entries = []
        for kid in kids or tuple(self.keys):
            key = self.keys[kid]
            codec = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
            entry = json.loads(codec.to_jwk(key.public_key()))
            entries.append(entry | {"kid": kid, "use": "sig", "alg": _alg(key)})
        temporary = self.jwks_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"keys": entries}))
        temporary.replace(self.jwks_path)
        stamp = time.time() + 2
        os.utime(self.jwks_path, (stamp, stamp))

    def token(self, kid: str = "rsa-1", lifetime: float = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bank-a", "iat": now, "exp": now + lifetime}
        # A claim given as None is left out.
        payload = {k: v for k, v in (payload | claims).items() if v is not None}
        key = self.keys[kid]
        return jwt.encode(payload, key, algorithm=_alg(key), headers={"kid": kid})


def _alg(key: Any) -> str:
    return "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"


def unsigned(token: str) -> str:
    """``token``'s header and claims with ``alg: none`` and no signature."""
    header, claims, _ = token.split(".")
    parsed = json.loads(base64.urlsafe_b64decode(header + "=="))
    return f"{_b64(json.dumps(parsed | {'alg': 'none'}).encode())}.{claims}."


def tampered(token: str, **claims: Any) -> str:
    """``token`` with changed claims and the original signature (which no longer matches)."""
    header, body, signature = token.split(".")
    parsed = json.loads(base64.urlsafe_b64decode(body + "=="))
    return f"{header}.{_b64(json.dumps(parsed | claims).encode())}.{signature}"


def new_issuer(directory: Path) -> Issuer:
    issuer = Issuer(directory / "jwks.json")
    issuer.add_rsa("rsa-1")
    issuer.add_ec("ec-1")
    issuer.publish()
    return issuer

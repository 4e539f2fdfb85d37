"""Transformer settings: one typed object, built once in ``main()`` and passed in.

Every field comes from the environment (prefix ``CREDIT_``) or a file in the mounted Secrets
directory; the standard KServe flags (``--predictor_host``, ``--predictor_protocol``, ...) override
them. Ports and the bind address are the shared server settings (``serving.settings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import orjson
from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from serving.settings import ServerSettings

__all__ = ["DEFAULT_FORWARD_HEADERS", "TransformerSettings"]

# Tracing and correlation only: credentials and cookies never travel to the predictor.
DEFAULT_FORWARD_HEADERS: tuple[str, ...] = (
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
)


class TransformerSettings(ServerSettings):
    """Settings of ``python -m transformer`` (on top of bind address, access log, body limit)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_", extra="ignore", use_attribute_docstrings=True)

    # ----------------------------------------------------------------- predictor
    predictor_host: str = "127.0.0.1:8085"
    """``host:port`` of the predictor: its HTTP port for ``v2``, its gRPC port for ``grpc-v2``."""
    predictor_protocol: Literal["v2", "grpc-v2"] = "v2"
    """Open Inference Protocol towards the predictor: REST v2 (default) or gRPC v2."""
    predictor_model_name: str = "credit-risk"
    """KServe model name of the predictor."""
    predictor_use_ssl: bool = False
    """TLS towards the predictor."""
    predictor_timeout_seconds: float = Field(default=5.0, gt=0)
    """Whole-call timeout of one predictor request (a 1,000-row batch with reasons included)."""
    predictor_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    """Connect timeout towards the predictor: a dead predictor is reported this fast."""
    predictor_max_connections: int = Field(default=64, ge=1)
    """Keep-alive pool size towards the predictor (REST)."""
    predictor_binary_tensors: bool = True
    """REST: send the feature matrix and receive the outputs with the v2 binary tensor extension
    (exact, NaN-safe, no number formatting); false sends JSON lists (NaN as null)."""

    shadow_predictor_host: str | None = None
    """A challenger predictor (``host:port``, same protocol) that scores every batch in the
    background for comparison; its answers go to the inference log only (role challenger)."""
    shadow_max_in_flight: int = Field(default=4, ge=1)
    """Shadow calls running at once at most; while they run, requests wait in the shadow queue."""
    shadow_batch_rows: int = Field(default=256, ge=1)
    """Rows per shadow call at most: queued requests are scored together, one v2 call per block
    (a request larger than this is one call of its own)."""
    shadow_batch_wait_ms: float = Field(default=50.0, ge=0)
    """How long the oldest queued request waits for company before its block is sent (a full
    block goes at once)."""
    shadow_queue_rows: int = Field(default=4096, ge=1)
    """Rows waiting for shadow scoring at most: a request that would go beyond is not shadowed
    (counted in ``credit_shadow_skipped_total``); a request alone is always queued."""
    challenger_predictor_host: str | None = None
    """``split`` mode: the challenger predictor (``host:port``, same protocol) that decides
    ``challenger_percent`` of applicants."""
    challenger_percent: int = Field(default=0, ge=0, le=100)
    """``split`` mode: the share of applicants (integer percent) the challenger decides, chosen
    by a sticky hash of the applicant id salted with the challenger's version
    (``transformer.routing``); raising it keeps the applicants already on the challenger."""

    # ----------------------------------------------------------------- requests
    max_batch: int = Field(default=1000, ge=1)
    """Most applications accepted in one request (the batch endpoint)."""
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    """Largest request body accepted (413 above): 1,000 applications take about 100 kB."""
    forward_headers: Annotated[tuple[str, ...], NoDecode] = DEFAULT_FORWARD_HEADERS
    """Request headers forwarded to the predictor (comma-separated or a JSON list); no others."""

    # ----------------------------------------------------------------- who may call
    auth: Literal["api-key", "jwt", "off"] = "api-key"
    """``api-key``: every route but the probes and ``/metrics`` needs a key from ``api_keys_path``
    (401 otherwise); ``jwt``: they need ``Authorization: Bearer <JWT>`` signed by a key of
    ``jwks_path`` for ``jwt_issuer`` and ``jwt_audience`` (the client is its ``sub``); ``off``
    lets anyone in and logs a warning at start-up: only for a transformer that nothing but an
    authenticating gateway can reach."""
    api_keys_path: Path = Path("/var/run/secrets/credit-scoring-api-keys")
    """File, or mounted Secret directory of files, of ``client:sha256-hex`` lines (SHA-256 of each
    key, never the key); re-read within a second of a change, so keys rotate without a restart."""
    jwks_path: Path = Path("/var/run/credit-scoring-jwks/jwks.json")
    """``jwt``: JSON Web Key Set file of the token issuer's public keys (a mounted ConfigMap or
    Secret directory's key, not a ``subPath`` mount); re-read within a second of a change, so
    signing keys rotate without a restart. Not read when ``jwks_url`` is set."""
    jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    """``jwt``: URL of the issuer's JSON Web Key Set, used instead of ``jwks_path`` when set:
    fetched at start (the transformer does not start without it), then every
    ``jwks_refresh_seconds`` and when a token names an unknown ``kid``; a failed fetch keeps the
    last good keys."""
    jwks_refresh_seconds: float = Field(default=300.0, ge=1)
    """``jwks_url``: seconds between scheduled fetches of the key set."""
    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    """``jwks_url``: fewest seconds between two fetches, however many unknown ``kid`` values
    tokens carry (bounds the load on the identity provider)."""
    jwt_issuer: str | None = None
    """``jwt``: the required ``iss`` claim (the gateway's ``gateway.auth.jwt.issuer``)."""
    jwt_audience: str | None = None
    """``jwt``: the required ``aud`` claim (one of the token's audiences)."""
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    """``jwt``: clock skew tolerated on ``exp`` and ``nbf``."""
    api_key_header: str = "x-api-key"
    """Header carrying the API key (the gateway policy's header); ``Authorization: Bearer <key>``
    is accepted too."""
    rate_limit_per_second: float = Field(default=200.0, ge=0)
    """Requests per second each client may sustain in this process (429 with ``Retry-After``
    beyond it; the gateway's per-client number); 0 turns the limit off."""
    rate_limit_burst: int = Field(default=400, ge=1)
    """Requests a client may send at once before its rate applies."""
    client_header: str = ""
    """With ``auth=off`` only: header naming the client, set by the authenticating gateway in
    front (the chart passes ``gateway.rateLimit.clientHeader``: the JWT's subject), so the rate
    limit still counts each client apart; empty or absent, every caller is ``anonymous`` and
    shares one budget."""

    # ----------------------------------------------------------------- features
    feature_repo: Path | None = None
    """Feast repository; default ``CREDIT_FEATURE_REPO`` or this checkout's ``feature_repo/``."""
    feature_store_config: Path | None = None
    """Feast profile, e.g. ``feature_repo/feature_store.production.yaml`` (Redis); default the
    embedded ``feature_store.yaml`` of the repository (SQLite under ``CREDIT_HOME``)."""
    feature_service: str = "credit_model_v1"
    """Feast feature service that defines the model's inputs."""
    feature_read: Literal["direct", "feast"] = "direct"
    """``direct``: one pipelined Redis read with Feast's keys (same answer as Feast's read, about
    15x cheaper for 1,000 applicants: ``docs/serving.md``); ``feast``: Feast's own
    ``get_online_features_async`` (any store; the embedded SQLite store always uses it)."""
    feature_timeout_seconds: float = Field(default=1.0, gt=0)
    """Timeout of one online-store lookup (then 503)."""
    feature_max_age_seconds: float | None = Field(default=None, gt=0)
    """Oldest materialization the transformer trusts: an online store last materialized longer
    ago answers 503 (``online_store_stale``) and the transformer goes not ready; unset: any age
    (an emptied store, without the marker, is refused whatever this says)."""
    feature_marker_check_seconds: float = Field(default=5.0, gt=0)
    """How often a background check reads the materialization marker (readiness follows it;
    the direct reader also reads the marker with every batch)."""

    # ----------------------------------------------------------------- answers
    role: Literal["champion", "challenger"] = "champion"
    """Role of the answers this transformer gives (metrics label and inference log)."""
    challenger_mode: Literal["off", "shadow", "split"] | None = None
    """How a challenger takes part: ``shadow`` (scores copies in the background; needs
    ``shadow_predictor_host``), ``split`` (decides ``challenger_percent`` of applicants; needs
    ``challenger_predictor_host``) or ``off``; default: ``shadow`` when a shadow predictor host is set,
    else ``off``."""
    inference_log: bool = True
    """Hand every answer to the inference log (configured by ``CREDIT_INFERENCE_LOG_*``)."""

    @model_validator(mode="after")
    def _jwt_needs_issuer_and_audience(self) -> TransformerSettings:
        if self.auth == "jwt" and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError(
                "auth jwt needs jwt_issuer and jwt_audience (CREDIT_JWT_ISSUER, CREDIT_JWT_AUDIENCE)"
            )
        return self

    @model_validator(mode="after")
    def _one_challenger(self) -> TransformerSettings:
        mode = self.challenger_mode
        if mode == "split" and not self.challenger_predictor_host:
            raise ValueError("challenger_mode split needs challenger_predictor_host (its predictor)")
        if mode == "split" and self.shadow_predictor_host:
            raise ValueError("challenger_mode split decides with the challenger: unset shadow_predictor_host")
        if mode == "shadow" and not self.shadow_predictor_host:
            raise ValueError("challenger_mode shadow needs shadow_predictor_host (the challenger predictor)")
        if mode == "off" and self.shadow_predictor_host:
            raise ValueError(f"challenger_mode {mode} runs no shadow: unset shadow_predictor_host")
        return self

    @field_validator("forward_headers", mode="before")
    @classmethod
    def _split_headers(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = orjson.loads(text) if text.startswith("[") else [h for h in text.split(",") if h.strip()]
        if isinstance(value, (list, tuple)):
            return tuple(str(h).strip().lower() for h in value)
        return value

"""Composition root of ``python -m transformer``: flags and settings (``configure``) -> parts -> servers.

Nothing runs at import time. The command line is KServe's (``--predictor_host``,
``--predictor_protocol``, ``--http_port``, ``--grpc_port`` ...) plus ``--bind_address`` and
``--max_batch``, exactly what the InferenceService and the local stack run; ``--help`` also lists
every ``CREDIT_*`` setting and exits without contacting anything.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from credit_scoring.settings import load_settings
from serving.settings import Launch, launch, server_argument_parser
from transformer.settings import TransformerSettings

__all__ = ["Launch", "build_guard", "build_model", "build_parser", "configure", "main"]

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from inference_log import InferenceLogSettings

    parser = server_argument_parser(
        "Credit-scoring transformer: validation, Feast features, predictor call, credit answer.",
        model_name="credit-scoring",
        settings=(TransformerSettings, InferenceLogSettings),
    )
    # KServe's parser defaults these (protocol v1, 600 s); unset here, so settings decide.
    parser.set_defaults(
        predictor_host=None,
        predictor_protocol=None,
        predictor_request_timeout_seconds=None,
        predictor_use_ssl=None,
    )
    parser.add_argument(
        "--max_batch", type=int, default=None, help="Applications per request (CREDIT_MAX_BATCH)"
    )
    return parser


def configure(argv: Sequence[str] | None = None) -> Launch[TransformerSettings]:
    """KServe's flags over environment over defaults, checked once (a bad value exits naming it)."""
    args = build_parser().parse_args(argv)
    if args.predictor_protocol == "v1":
        raise SystemExit("--predictor_protocol must be v2 or grpc-v2: the predictor contract is v2")
    return launch(
        args,
        TransformerSettings,
        "transformer",
        predictor_host=args.predictor_host,
        predictor_protocol=args.predictor_protocol,
        predictor_timeout_seconds=args.predictor_request_timeout_seconds,
        predictor_use_ssl=args.predictor_use_ssl,
        max_batch=args.max_batch,
    )


def build_model(settings: TransformerSettings, model_name: str) -> Any:
    """The ``credit-scoring`` model with its feature reader, predictor client and inference log."""
    from prometheus_client import REGISTRY

    from inference_log import ApplicantHasher, InferenceLogSettings, InferenceLogWriter
    from transformer.log_buffer import ChunkedSink
    from transformer.model import CreditScoringModel
    from transformer.online_features import OnlineFeatures
    from transformer.predictor_client import make_predictor_client
    from transformer.split import Split

    features = OnlineFeatures.from_repo(
        settings.feature_repo,
        settings.feature_store_config,
        settings.feature_service,
        read=settings.feature_read,
        timeout=settings.feature_timeout_seconds,
        max_age_seconds=settings.feature_max_age_seconds,
        check_seconds=settings.feature_marker_check_seconds,
    )
    sink = hasher = None
    if settings.inference_log:
        log_settings = load_settings(InferenceLogSettings)
        if log_settings.enabled:
            sink = ChunkedSink(InferenceLogWriter.from_settings(log_settings, registry=REGISTRY).start())
            hasher = ApplicantHasher.from_settings(log_settings)
    model = CreditScoringModel(
        model_name,
        features,
        make_predictor_client(settings),
        max_batch=settings.max_batch,
        forward_headers=settings.forward_headers,
        role=settings.role,
        sink=sink,
        hasher=hasher,
        shadow=(
            make_predictor_client(settings, settings.shadow_predictor_host)
            if settings.shadow_predictor_host
            else None
        ),
        shadow_max_in_flight=settings.shadow_max_in_flight,
        shadow_batch_rows=settings.shadow_batch_rows,
        shadow_batch_wait_seconds=settings.shadow_batch_wait_ms / 1000.0,
        shadow_queue_rows=settings.shadow_queue_rows,
        split=(
            Split(
                make_predictor_client(settings, settings.challenger_predictor_host),
                settings.challenger_percent,
            )
            if settings.challenger_mode == "split" and settings.challenger_predictor_host
            else None
        ),
    )
    model.load()
    return model


def build_guard(settings: TransformerSettings) -> Any:
    """The ``serving.admission.Guard``: API keys or JWTs (unless ``CREDIT_AUTH=off``) and rate limit."""
    from transformer.auth import ApiKeys, Authenticator
    from transformer.rate_limit import RateLimiter

    limiter = None
    if settings.rate_limit_per_second > 0:
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    header = settings.api_key_header.lower().encode()
    keys = None
    if settings.auth == "jwt":
        return Authenticator(None, header, limiter, jwt=_jwt_verifier(settings))
    if settings.auth == "off":
        log.warning(
            "AUTHENTICATION IS OFF (CREDIT_AUTH=off): anyone who reaches this transformer can score "
            "applications; run it so only an authenticating gateway can reach it"
        )
    else:
        try:
            keys = ApiKeys(settings.api_keys_path)
        except OSError as exc:
            raise SystemExit(
                f"CREDIT_API_KEYS_PATH={settings.api_keys_path} is unreadable ({exc}): mount the key "
                "hashes there, or set CREDIT_AUTH=off to run without authentication"
            ) from exc
        if not len(keys):
            log.warning("no valid key in %s: every request is refused until one is added", keys.path)
        log.info("API keys from %s: %d keys of %d clients", keys.path, len(keys), len(keys.clients))
    return Authenticator(keys, header, limiter, settings.client_header.lower().encode())


def _jwt_verifier(settings: TransformerSettings) -> Any:
    from transformer.jwt_auth import JwtVerifier

    # The settings' validator requires both with auth jwt.
    assert settings.jwt_issuer is not None
    assert settings.jwt_audience is not None
    keys, source = _jwks(settings)
    if not len(keys):
        log.warning("no usable key in %s: every request is refused until one is added", source)
    log.info(
        "JWT authentication: %d keys from %s, issuer %s, audience %s",
        len(keys),
        source,
        settings.jwt_issuer,
        settings.jwt_audience,
    )
    return JwtVerifier(keys, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds)


def _jwks(settings: TransformerSettings) -> tuple[Any, str]:
    """The key set (from ``jwks_url`` when set, else the file ``jwks_path``) and where it is from."""
    import httpx

    from transformer.jwks_url import JwksUrl
    from transformer.jwt_auth import JwksFile

    if settings.jwks_url:
        try:
            keys: Any = JwksUrl(
                settings.jwks_url, settings.jwks_refresh_seconds, settings.jwks_min_refresh_seconds
            )
        except (httpx.HTTPError, ValueError) as exc:
            why = (
                f"HTTP {exc.response.status_code}"
                if isinstance(exc, httpx.HTTPStatusError)
                else f"{type(exc).__name__}: {exc}"
            )
            raise SystemExit(
                f"CREDIT_JWKS_URL={settings.jwks_url} gave no JSON Web Key Set at start-up ({why}): "
                "nothing was ever fetched, so no token could be "
                "checked; make the URL reachable from the transformer, or mount the set as a file "
                "(CREDIT_JWKS_PATH)"
            ) from exc
        if settings.jwks_url.startswith("http://"):
            log.warning(
                "CREDIT_JWKS_URL is plain http: whoever can alter the traffic can add signing keys; "
                "use https unless the issuer is reached over a trusted network"
            )
        return keys, settings.jwks_url
    try:
        keys = JwksFile(settings.jwks_path)
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"CREDIT_JWKS_PATH={settings.jwks_path} is unreadable or not a JSON Web Key Set ({exc}): "
            "mount the issuer's public keys there (or set CREDIT_JWKS_URL), or set CREDIT_AUTH=api-key or off"
        ) from exc
    return keys, str(keys.path)


def main(argv: Sequence[str] | None = None) -> None:
    launch = configure(argv)
    settings = launch.settings
    from kserve.model_server import app

    from transformer.metrics import HttpMetricsMiddleware, observe_http
    from transformer.monitoring_route import add_monitoring_route, challenger_mode
    from transformer.routes import scoring_routes

    launch.start_logging()
    guard = build_guard(settings)
    model = build_model(settings, launch.model_name)
    add_monitoring_route(
        app,
        model,
        challenger_mode(settings.challenger_mode, bool(settings.shadow_predictor_host)),
        settings.predictor_model_name,
    )
    # KServe's remaining routes (health, metadata, /metrics) are counted by the middleware; the
    # scoring routes are answered ahead of it and counted by the router (observe_http).
    app.add_middleware(HttpMetricsMiddleware)
    log.info(
        "transformer %s -> predictor %s over %s, features: %s read from %s",
        model.name,
        settings.predictor_host,
        settings.predictor_protocol,
        model.features.read,
        model.features.where,
    )
    if model.split is not None:
        log.info(
            "split: challenger predictor %s decides %d%% of applicants",
            settings.challenger_predictor_host,
            settings.challenger_percent,
        )
    launch.serve([model], routes=scoring_routes(model), observe=observe_http, guard=guard)

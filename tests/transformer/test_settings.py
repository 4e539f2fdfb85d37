"""Settings: environment first, the standard KServe flags override it only when given."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from credit_scoring.serving import load_settings
from transformer.server import build_parser
from transformer.settings import DEFAULT_FORWARD_HEADERS, TransformerSettings


def _settings(argv: list[str]) -> TransformerSettings:
    args = build_parser().parse_args(argv)
    return load_settings(
        TransformerSettings,
        secrets_dir=None,
        predictor_host=args.predictor_host,
        predictor_protocol=args.predictor_protocol,
        predictor_timeout_seconds=args.predictor_request_timeout_seconds,
        predictor_use_ssl=args.predictor_use_ssl,
        max_batch=args.max_batch,
    )


def test_defaults_without_environment_or_flags(monkeypatch: pytest.MonkeyPatch):
    for name in (
        "CREDIT_PREDICTOR_HOST",
        "CREDIT_PREDICTOR_PROTOCOL",
        "CREDIT_MAX_BATCH",
        "CREDIT_FORWARD_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = _settings([])
    assert (settings.predictor_host, settings.predictor_protocol, settings.max_batch) == (
        "127.0.0.1:8085",
        "v2",
        1000,
    )
    assert settings.forward_headers == DEFAULT_FORWARD_HEADERS
    assert "authorization" not in settings.forward_headers


def test_environment_is_used_when_flags_are_absent(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDIT_PREDICTOR_PROTOCOL", "grpc-v2")
    monkeypatch.setenv("CREDIT_PREDICTOR_USE_SSL", "true")
    monkeypatch.setenv("CREDIT_MAX_BATCH", "50")
    monkeypatch.setenv("CREDIT_FORWARD_HEADERS", "X-Request-Id, Traceparent")
    settings = _settings([])
    assert settings.predictor_protocol == "grpc-v2"
    assert settings.predictor_use_ssl is True
    assert settings.max_batch == 50
    assert settings.forward_headers == ("x-request-id", "traceparent")


def test_kserve_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDIT_PREDICTOR_PROTOCOL", "grpc-v2")
    monkeypatch.setenv("CREDIT_PREDICTOR_USE_SSL", "true")
    settings = _settings(
        [
            "--predictor_host",
            "predictor.ns:80",
            "--predictor_protocol",
            "v2",
            "--predictor_use_ssl",
            "false",
            "--predictor_request_timeout_seconds",
            "3",
            "--max_batch",
            "7",
        ]
    )
    assert settings.predictor_host == "predictor.ns:80"
    assert settings.predictor_protocol == "v2"
    assert settings.predictor_use_ssl is False
    assert settings.predictor_timeout_seconds == 3
    assert settings.max_batch == 7


def test_v1_towards_the_predictor_is_refused(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ValidationError, match="predictor_protocol"):
        TransformerSettings(predictor_protocol="v1")  # type: ignore[arg-type]
    from transformer.server import main

    with pytest.raises(SystemExit, match="v2 or grpc-v2"):
        main(["--predictor_protocol", "v1"])

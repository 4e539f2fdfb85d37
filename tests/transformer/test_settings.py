"""Settings: environment first, the standard KServe flags override it only when given.

Every test goes through ``configure``, the first thing ``main()`` runs, so the flag wiring tested
is the one the container runs.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from transformer.server import configure
from transformer.settings import DEFAULT_FORWARD_HEADERS, TransformerSettings

ENVIRONMENT = (
    "CREDIT_PREDICTOR_HOST",
    "CREDIT_PREDICTOR_PROTOCOL",
    "CREDIT_PREDICTOR_USE_SSL",
    "CREDIT_PREDICTOR_TIMEOUT_SECONDS",
    "CREDIT_MAX_BATCH",
    "CREDIT_FORWARD_HEADERS",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_environment_or_flags():
    launch = configure([])
    settings = launch.settings
    assert launch.model_name == "credit-scoring"
    assert (settings.predictor_host, settings.predictor_protocol, settings.max_batch) == (
        "127.0.0.1:8085",
        "v2",
        1000,
    )
    assert settings.predictor_timeout_seconds == 5.0
    assert settings.forward_headers == DEFAULT_FORWARD_HEADERS
    assert "authorization" not in settings.forward_headers
    assert launch.options.max_body_bytes == settings.max_body_bytes


def test_environment_is_used_when_flags_are_absent(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDIT_PREDICTOR_PROTOCOL", "grpc-v2")
    monkeypatch.setenv("CREDIT_PREDICTOR_USE_SSL", "true")
    monkeypatch.setenv("CREDIT_MAX_BATCH", "50")
    monkeypatch.setenv("CREDIT_FORWARD_HEADERS", "X-Request-Id, Traceparent")
    settings = configure([]).settings
    assert settings.predictor_protocol == "grpc-v2"
    assert settings.predictor_use_ssl is True
    assert settings.max_batch == 50
    assert settings.forward_headers == ("x-request-id", "traceparent")


def test_kserve_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDIT_PREDICTOR_PROTOCOL", "grpc-v2")
    monkeypatch.setenv("CREDIT_PREDICTOR_USE_SSL", "true")
    monkeypatch.setenv("CREDIT_PREDICTOR_TIMEOUT_SECONDS", "9")
    launch = configure(
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
            "--http_port",
            "9100",
            "--bind_address",
            "127.0.0.1",
        ]
    )
    settings = launch.settings
    assert settings.predictor_host == "predictor.ns:80"
    assert settings.predictor_protocol == "v2"
    assert settings.predictor_use_ssl is False
    assert settings.predictor_timeout_seconds == 3
    assert settings.max_batch == 7
    assert (launch.options.http_port, launch.options.bind_address) == (9100, "127.0.0.1")


def test_v1_towards_the_predictor_is_refused():
    with pytest.raises(ValidationError, match="predictor_protocol"):
        TransformerSettings(predictor_protocol="v1")  # type: ignore[arg-type]
    with pytest.raises(SystemExit, match="v2 or grpc-v2"):
        configure(["--predictor_protocol", "v1"])
    with pytest.raises(SystemExit, match="max_batch"):
        configure(["--max_batch", "0"])


def test_split_settings_reach_the_transformer(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CREDIT_CHALLENGER_MODE", "split")
    monkeypatch.setenv("CREDIT_CHALLENGER_PERCENT", "25")
    monkeypatch.setenv("CREDIT_CHALLENGER_PREDICTOR_HOST", "challenger:80")
    settings = configure([]).settings
    assert (settings.challenger_mode, settings.challenger_percent) == ("split", 25)
    assert settings.challenger_predictor_host == "challenger:80"


@pytest.mark.parametrize(
    ("environment", "complaint"),
    [
        ({"CREDIT_CHALLENGER_MODE": "split"}, "needs challenger_predictor_host"),
        (
            {
                "CREDIT_CHALLENGER_MODE": "split",
                "CREDIT_CHALLENGER_PREDICTOR_HOST": "c:80",
                "CREDIT_SHADOW_PREDICTOR_HOST": "s:80",
            },
            "unset shadow_predictor_host",
        ),
        ({"CREDIT_CHALLENGER_MODE": "shadow"}, "needs shadow_predictor_host"),
        ({"CREDIT_CHALLENGER_MODE": "off", "CREDIT_SHADOW_PREDICTOR_HOST": "s:80"}, "runs no shadow"),
        # KServe's pod-count canary is gone from the chart (issue #13): no mode reports it.
        ({"CREDIT_CHALLENGER_MODE": "canary"}, "challenger_mode"),
        (
            {
                "CREDIT_CHALLENGER_MODE": "split",
                "CREDIT_CHALLENGER_PREDICTOR_HOST": "c:80",
                "CREDIT_CHALLENGER_PERCENT": "101",
            },
            "challenger_percent",
        ),
    ],
)
def test_a_challenger_mode_without_its_predictor_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], complaint: str
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=complaint):
        configure([])

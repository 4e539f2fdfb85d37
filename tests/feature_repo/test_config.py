"""The two feature_store profiles and the placeholder handling."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from feast.repo_config import load_repo_config as feast_load_repo_config

from feature_store import (
    EMBEDDED_CONFIG,
    PRODUCTION_CONFIG,
    FeatureStoreConfigError,
    default_repo_path,
    expand_placeholders,
    load_repo_config,
)

REPO = default_repo_path()
PRODUCTION_VARS = {
    "CREDIT_FEAST_REGISTRY_USER": "feast",
    "CREDIT_FEAST_REGISTRY_PASSWORD": "s3cret",
    "CREDIT_FEAST_REGISTRY_HOST": "postgres.credit.svc",
    "CREDIT_FEAST_REGISTRY_PORT": "5432",
    "CREDIT_FEAST_REGISTRY_DB": "feast",
    "CREDIT_REDIS_HOST": "redis.credit.svc",
    "CREDIT_REDIS_PORT": "6379",
    "CREDIT_REDIS_PASSWORD": "r3dis",
}


def test_production_profile_has_no_inline_credentials():
    text = (REPO / PRODUCTION_CONFIG).read_text()
    assert set(re.findall(r"\$\{([A-Z_]+)\}", text)) == set(PRODUCTION_VARS)
    assert "password=${CREDIT_REDIS_PASSWORD}" in text


def test_production_profile_expands_to_redis_and_sql_registry():
    config = load_repo_config(REPO / PRODUCTION_CONFIG, REPO, PRODUCTION_VARS)
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "redis.credit.svc:6379,password=r3dis"
    assert config.registry.registry_type == "sql"
    assert config.registry.path == "postgresql+psycopg://feast:s3cret@postgres.credit.svc:5432/feast"


def test_unset_placeholders_are_named(tmp_path):
    env = {
        k: v
        for k, v in PRODUCTION_VARS.items()
        if k not in ("CREDIT_REDIS_PASSWORD", "CREDIT_FEAST_REGISTRY_DB")
    }
    with pytest.raises(FeatureStoreConfigError, match="CREDIT_FEAST_REGISTRY_DB, CREDIT_REDIS_PASSWORD"):
        load_repo_config(REPO / PRODUCTION_CONFIG, REPO, env)


def test_feast_itself_leaves_unset_placeholders_in_place(tmp_path, monkeypatch):
    """Why we expand ourselves: Feast 0.67 expands set variables but silently keeps unset ones."""
    for name, value in PRODUCTION_VARS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CREDIT_REDIS_PASSWORD")
    config = feast_load_repo_config(REPO, REPO / PRODUCTION_CONFIG)
    assert config.online_store.connection_string == "redis.credit.svc:6379,password=${CREDIT_REDIS_PASSWORD}"
    assert config.registry.path.startswith("postgresql+psycopg://feast:s3cret@")


def test_embedded_profile_defaults_under_credit_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_repo_config(REPO / EMBEDDED_CONFIG, REPO, {})
    home = (tmp_path / ".credit-scoring").resolve()
    assert config.online_store.type == "sqlite"
    assert Path(config.online_store.path) == home / "feast" / "online_store.db"
    assert Path(config.registry.path) == home / "feast" / "registry.db"
    assert (home / "feast").is_dir()


def test_embedded_profile_follows_credit_home(tmp_path):
    config = load_repo_config(REPO / EMBEDDED_CONFIG, REPO, {"CREDIT_HOME": str(tmp_path / "elsewhere")})
    assert Path(config.online_store.path) == tmp_path / "elsewhere" / "feast" / "online_store.db"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("a ${X} b", {"X": "1"}, "a 1 b"),
        ("${X:-dflt}", {}, "dflt"),
        ("${X:-dflt}", {"X": ""}, "dflt"),
        ("${X}", {"X": ""}, ""),
        ("$X stays", {"X": "1"}, "$X stays"),
    ],
)
def test_expand_placeholders(text, env, expected):
    assert expand_placeholders(text, env) == expected

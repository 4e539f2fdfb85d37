"""Open the Feast feature store from one of the repo's ``feature_store*.yaml`` profiles.

Two profiles ship in ``feature_repo/``: ``feature_store.yaml`` (embedded default: SQLite online
store and a file registry under ``CREDIT_HOME``) and ``feature_store.production.yaml`` (Redis
online store, SQL registry on PostgreSQL). Credentials are ``${VAR}`` placeholders.

Feast 0.67 expands ``${VAR}`` itself (``os.path.expandvars`` in ``load_repo_config``) but leaves
an unset variable in place silently, which surfaces later as a confusing connection error, and
it does not expand anything when a ``RepoConfig`` is built in code. So this module expands the
placeholders itself (``${VAR}`` and ``${VAR:-default}``), fails naming every unset variable,
and hands Feast a finished ``RepoConfig``. Training, the CLI and the transformer all open the
store through here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

__all__ = [
    "DEFAULT_HOME",
    "EMBEDDED_CONFIG",
    "PRODUCTION_CONFIG",
    "FeatureStoreConfigError",
    "credit_home",
    "default_repo_path",
    "expand_placeholders",
    "load_repo_config",
    "open_store",
    "redis_profile",
]

DEFAULT_HOME = ".credit-scoring"
EMBEDDED_CONFIG = "feature_store.yaml"
PRODUCTION_CONFIG = "feature_store.production.yaml"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class FeatureStoreConfigError(ValueError):
    """The feature-store profile cannot be turned into a configuration."""


def credit_home(env: Mapping[str, str] | None = None) -> Path:
    """``CREDIT_HOME`` (default ``./.credit-scoring``) as an absolute path."""
    env = os.environ if env is None else env
    return Path(env.get("CREDIT_HOME") or DEFAULT_HOME).resolve()


def default_repo_path() -> Path:
    """``feature_repo/`` of this checkout (``CREDIT_FEATURE_REPO`` overrides it in images)."""
    explicit = os.environ.get("CREDIT_FEATURE_REPO")
    if explicit:
        return Path(explicit).resolve()
    return Path(__file__).resolve().parent.parent / "feature_repo"


def expand_placeholders(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; every unset variable without a default is an error."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if default is not None and not value:
            return default  # shell semantics: ":-" also replaces an empty value
        if value is None:
            missing.append(name)
            return ""
        return value

    expanded = _PLACEHOLDER.sub(replace, text)
    if missing:
        raise FeatureStoreConfigError(
            "feature store configuration needs these environment variables: "
            + ", ".join(sorted(set(missing)))
        )
    return expanded


def load_repo_config(config_file: Path, repo_path: Path, env: Mapping[str, str] | None = None) -> RepoConfig:
    """Read a profile, fill its placeholders from ``env`` and validate it with Feast."""
    from feast.repo_config import RepoConfig

    values = dict(os.environ if env is None else env)
    # The embedded profile's only variable has a default, so a fresh clone needs no setup.
    values.setdefault("CREDIT_HOME", str(credit_home(values)))
    try:
        text = Path(config_file).read_text()
    except OSError as exc:
        raise FeatureStoreConfigError(
            f"cannot read feature store configuration {config_file}: {exc}"
        ) from exc
    raw = yaml.safe_load(expand_placeholders(text, values))
    if not isinstance(raw, dict):
        raise FeatureStoreConfigError(f"{config_file} is not a YAML mapping")
    _prepare_local_paths(raw)
    try:
        config = RepoConfig(**raw)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise FeatureStoreConfigError(f"{config_file}: {exc}") from exc
    config.repo_path = Path(repo_path).resolve()
    return config


def _prepare_local_paths(raw: dict[str, object]) -> None:
    # File registry and SQLite online store: create their folder so a fresh CREDIT_HOME works.
    for key in ("registry", "online_store"):
        section = raw.get(key)
        if not isinstance(section, dict):
            continue
        kind = section.get("registry_type", section.get("type", "file"))
        path = section.get("path")
        if kind in ("file", "sqlite") and isinstance(path, str) and "://" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def open_store(
    config_file: Path | None = None, repo_path: Path | None = None, env: Mapping[str, str] | None = None
) -> FeatureStore:
    """A ``FeatureStore`` for a profile (default: the embedded one in ``feature_repo/``)."""
    from feast import FeatureStore

    repo = Path(repo_path) if repo_path is not None else default_repo_path()
    config = load_repo_config(config_file or repo / EMBEDDED_CONFIG, repo, env)
    return FeatureStore(repo_path=str(config.repo_path), config=config)


def redis_profile(config_file: Path, out_dir: Path, redis_address: str) -> Path:
    """``config_file`` with a Redis online store at ``redis_address`` (``host:port``) and a
    registry file of its own in ``out_dir``, written as ``out_dir/feature_store.yaml``.

    What the local stack and the benchmark serve from: the embedded profile's offline source with
    the production online store, and materialization bookkeeping kept apart from the embedded
    SQLite store's."""
    raw = yaml.safe_load(Path(config_file).read_text())
    raw["registry"] = {**raw.get("registry", {}), "path": str(out_dir / "registry.db")}
    raw["online_store"] = {"type": "redis", "connection_string": redis_address}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "feature_store.yaml"
    out.write_text(
        f"# Generated from {Path(config_file).name} with a Redis online store at {redis_address}.\n"
        + yaml.safe_dump(raw, sort_keys=False)
    )
    return out

"""The Feast feature store, opened from one of the repository's ``feature_store*.yaml`` profiles.

Training, the transformer, the CLI and the benchmark all open the store through
``open_store`` (placeholders checked, see ``feature_store.profiles``). Feast is imported only
when a store is opened, so importing this package needs PyYAML and nothing else.
"""

from __future__ import annotations

from feature_store.profiles import (
    DEFAULT_HOME,
    EMBEDDED_CONFIG,
    PRODUCTION_CONFIG,
    FeatureStoreConfigError,
    credit_home,
    default_repo_path,
    expand_placeholders,
    load_repo_config,
    open_store,
    redis_profile,
)

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

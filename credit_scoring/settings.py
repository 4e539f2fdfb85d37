"""Settings helpers every component shares: build a settings object once.

Each component declares its settings as a pydantic-settings class (prefix ``CREDIT_``, Kubernetes
Secrets mounted as files under ``SECRETS_DIR``); ``load_settings`` builds one in ``main()``.
``credit_scoring.settings_help`` renders the variables a class reads for ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

__all__ = ["SECRETS_DIR", "load_settings"]

# Kubernetes Secrets are mounted here as one file per setting (file name = variable name).
SECRETS_DIR = Path("/var/run/secrets/credit-scoring")

S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], secrets_dir: Path | None = SECRETS_DIR, **overrides: Any) -> S:
    """Build a settings object once: environment, then secret files, then explicit overrides.

    ``overrides`` that are None are ignored (a flag not given on the command line).
    ``secrets_dir`` is only passed when it exists, so local runs do not warn about it.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    if secrets_dir is not None and secrets_dir.is_dir():
        return cls(_secrets_dir=secrets_dir, **values)  # pydantic-settings init kwarg
    return cls(**values)

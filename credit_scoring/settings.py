"""Settings helpers every component shares: build a settings object once, and describe it.

Each component declares its settings as a pydantic-settings class (prefix ``CREDIT_``, Kubernetes
Secrets mounted as files under ``SECRETS_DIR``). ``load_settings`` builds one in ``main()``;
``describe_settings`` renders the variables it reads for ``--help``, from the same declaration,
so the help can never list a variable the code does not read.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

__all__ = ["SECRETS_DIR", "describe_settings", "load_settings"]

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


def _variable(cls: type[BaseSettings], name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if isinstance(alias, str):
        return alias
    if choices:
        return str(choices[0])
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined:
        return "required" if info.default_factory is None else "computed"
    if info.default is None:
        return "unset"
    value = info.default
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    return str(value)


def describe_settings(classes: Sequence[type[BaseSettings]], width: int = 100) -> str:
    """The environment variables ``classes`` read, with default and description, for ``--help``."""
    lines = textwrap.wrap(
        f"settings: environment variables, or files of the same name in {SECRETS_DIR}; "
        "a command-line flag, when given, overrides its variable.",
        width,
    )
    for cls in classes:
        for name, info in cls.model_fields.items():
            lines.append(f"  {_variable(cls, name, info)} (default: {_default(info)})")
            description = " ".join((info.description or "").split())
            if description:
                lines.extend(
                    textwrap.wrap(description, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
                )
    return "\n".join(lines)

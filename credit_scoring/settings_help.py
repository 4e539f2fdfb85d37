"""Every entry point's ``--help`` names its settings: environment variable, default, meaning.

Read from the settings classes themselves (pydantic-settings), so the help cannot drift from the
code: the variable names follow each class's ``env_prefix`` and aliases, the text is the field's
``description`` or the docstring under the field.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

__all__ = ["SettingHelp", "environment_help", "setting_helps"]


class SettingHelp:
    """One setting as ``--help`` shows it."""

    __slots__ = ("default", "description", "names")

    def __init__(self, names: list[str], default: str, description: str) -> None:
        self.names = names
        self.default = default
        self.description = description

    def line(self) -> str:
        text = f"{' | '.join(self.names)}: {self.description}".rstrip(": ")
        if self.default == "unset" and "default" in self.description:
            return text  # the description says what happens when it is unset
        return f"{text} (default: {self.default})"


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """Docstrings written under class attributes (``x: int = 1`` then ``\"\"\"...\"\"\"``), the
    class's own over its bases'."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_own_attribute_docstrings(klass))
    return docs


@functools.cache
def _own_attribute_docstrings(klass: type) -> dict[str, str]:
    """One class's own attribute docstrings. Cached: every settings class shares pydantic's bases,
    whose source is long, and parsing it again for each class and each command made
    ``credit-scoring --help`` take seconds."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    if not tree.body or not isinstance(tree.body[0], ast.ClassDef):
        return {}
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(tree.body[0].body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _names(cls: type[BaseSettings], name: str, alias: Any) -> list[str]:
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [c.upper() for c in alias.choices if isinstance(c, str)]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "set"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    if value == "":
        return '""'
    return str(value)


def setting_helps(cls: type[BaseSettings]) -> Iterator[SettingHelp]:
    """Each field of ``cls`` as ``--help`` shows it, in declaration order."""
    docs = _attribute_docstrings(cls)
    for name, field in cls.model_fields.items():
        default = "computed" if field.default_factory is not None else _default(field.default)
        description = " ".join((field.description or docs.get(name, "")).split())
        # reStructuredText literals read better without their doubled backquotes in a terminal.
        description = description.replace("``", "`")
        yield SettingHelp(_names(cls, name, field.validation_alias), default, description)


def environment_help(*classes: type[BaseSettings]) -> list[str]:
    """``--help`` lines for the settings of ``classes``: a title per class, a line per variable."""
    lines: list[str] = []
    for cls in classes:
        secrets = cls.model_config.get("secrets_dir")
        where = " or a file of that name in the mounted secrets directory" if secrets else ""
        # The first sentence of the class docstring names what the settings are for.
        title = (cls.__doc__ or cls.__name__).strip().splitlines()[0].split(". ")[0].rstrip(".")
        title = title.replace("``", "`")
        lines.append(f"{title} (environment variables{where}):")
        lines.extend(f"  {h.line()}" for h in setting_helps(cls))
    return lines

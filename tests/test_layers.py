"""Imports go down only: the contract imports no component, components import no tool.

``credit_scoring`` (the contract) depends on its base dependencies alone; the stores' packages on
the contract; the servers, training and monitoring on those; the tools on top (``cli``,
``bench``, ``tests``) may import everything and nothing below imports them. Read from the source
(every import statement, inside functions too), so a lazy import cannot hide a wrong direction.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# First-party package -> the first-party packages it may import.
ALLOWED: dict[str, set[str]] = {
    "credit_scoring": set(),
    "feature_store": {"credit_scoring"},
    "inference_log": {"credit_scoring"},
    "serving": {"credit_scoring"},  # the v2 wire module and the KServe server shims
    # Governance (registration gate, Regulation B check, model cards, replay of logged decisions)
    # reads the registry and the inference log; training runs its gate.
    "governance": {"credit_scoring", "inference_log"},
    "training": {"credit_scoring", "feature_store", "governance"},
    "monitoring": {"credit_scoring", "inference_log"},
    "predictor": {"credit_scoring", "serving"},
    "transformer": {"credit_scoring", "serving", "feature_store", "inference_log"},
    # Portfolio scoring reuses the predictor's model core and the transformer's decision code
    # (through batch/scoring.py alone), never their servers.
    "batch": {"credit_scoring", "feature_store", "predictor", "transformer"},
    "promotion": {"credit_scoring", "inference_log", "monitoring"},
}
# The tools on top may import every component (and bench the CLI's supervisor); nothing imports them.
ALLOWED["cli"] = set(ALLOWED)
ALLOWED["bench"] = ALLOWED["cli"] | {"cli"}
FIRST_PARTY = set(ALLOWED) | {"tests"}
# The contract's base dependencies (pyproject.toml [project].dependencies), as imported.
BASE_IMPORTS = {"pydantic", "pydantic_settings", "pydantic_core", "numpy", "orjson"}
# Modules of the contract allowed more than the base dependencies (none).
CONTRACT_EXCEPTIONS: set[str] = set()


def imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _sources(package: str) -> list[Path]:
    """The package's own modules (not a virtualenv inside it, such as bench/.venv-mlserver)."""
    base = ROOT / package
    return sorted(
        p for p in base.rglob("*.py") if not any(part.startswith(".") for part in p.relative_to(base).parts)
    )


def packages() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")


def test_every_package_has_its_place():
    assert set(packages()) <= set(ALLOWED), "declare the new package's allowed imports in ALLOWED"


@pytest.mark.parametrize("package", packages())
def test_imports_go_down_only(package: str):
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources(package)
        for name in imports(path) & FIRST_PARTY
        if name != package and name not in ALLOWED[package]
    }
    assert not wrong, "\n".join(sorted(wrong))


def test_contract_needs_only_its_base_dependencies():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {d.split(">")[0].split("=")[0].replace("-", "_") for d in declared} <= BASE_IMPORTS
    for exception in CONTRACT_EXCEPTIONS:
        assert (ROOT / exception).is_file(), f"{exception} is gone: remove it from CONTRACT_EXCEPTIONS"
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "credit_scoring").rglob("*.py"))
        if str(path.relative_to(ROOT)) not in CONTRACT_EXCEPTIONS
        for name in imports(path) - {"credit_scoring", "__future__"}
        if name not in sys.stdlib_module_names and name not in BASE_IMPORTS
    }
    assert not wrong, "\n".join(sorted(wrong))

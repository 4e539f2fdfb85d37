"""The docs name only what exists: every repository path and every ``python -m`` module in
README.md and docs/*.md, and every first-party module (and the name after it) they cite.

Paths are read from backticked spans; ``python -m x.y`` anywhere in the text. A failure names the
document and the line, so a rename that forgets a doc fails here, not in a reader's terminal.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What the repository holds at its top (git's view: nothing ignored, nothing generated).
TRACKED = subprocess.run(
    ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
).stdout.splitlines()
TOP = {p.split("/", 1)[0] for p in TRACKED}
PACKAGES = {t for t in TOP if (ROOT / t / "__init__.py").is_file()}
# Generated at run time (never committed), named in the docs as where output goes.
GENERATED = ("bench/results", ".credit-scoring", "bench/.venv-mlserver", ".venv", ".tools")

_SPAN = re.compile(r"`([^`\n]+)`")
_PYTHON_M = re.compile(r"python3? -m ([A-Za-z_][\w.]*)")
_DOTTED = re.compile(r"^([A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)+$")
# Not Python: file names (`feature_store.production.yaml`) and Helm values (`predictor.storageUri`).
_NOT_PYTHON = re.compile(r"\.(ya?ml|json|md|py|txt|toml|html|env)$|\.[a-z]+[A-Z]")


def _module_file(dotted: list[str]) -> Path | None:
    base = ROOT.joinpath(*dotted)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _check_module(name: str, runnable: bool = False) -> str | None:
    """``pkg.mod[.attr]``: the module exists (with a ``__main__`` when run with -m), and the first
    name after the longest module prefix is defined or imported there."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        found = _module_file(parts[:cut])
        if found is None:
            continue
        if runnable:
            if cut != len(parts):
                return f"no module {name}"
            if found.name == "__init__.py" and not (found.parent / "__main__.py").is_file():
                return f"package {name} has no __main__"
            return None
        if cut == len(parts):
            return None
        attr = parts[cut]
        if not re.search(rf"\b{re.escape(attr)}\b", found.read_text()):
            return f"{attr} is not defined in {found.relative_to(ROOT)}"
        return None
    return f"no module {name}"


def _path_tokens(span: str) -> list[str]:
    """The repository paths of a backticked span (commands included: `make -C x`, `tests/a.py::t`)."""
    out = []
    for token in span.split():
        token = token.strip(".,;:()'\"").split("::")[0]
        token = re.sub(r":\d+(-\d+)?$", "", token)  # path:line
        head = token.split("/", 1)[0]
        if ("/" in token and head in TOP) or (token in TOP and "." in token):
            out.append(token)
    return out


def _problems(name: str, text: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        for module in (m.rstrip(".") for m in _PYTHON_M.findall(line)):
            if module.split(".")[0] in PACKAGES and (problem := _check_module(module, runnable=True)):
                problems.append(f"{where}: python -m {module}: {problem}")
        for span in _SPAN.findall(line):
            for token in _path_tokens(span):
                if token.startswith(GENERATED) or any(c in token for c in "*<>{}$"):
                    continue
                if not (ROOT / token).exists():
                    problems.append(f"{where}: {token} does not exist")
            dotted = span.strip().removesuffix("()")
            python = _DOTTED.match(dotted) and not _NOT_PYTHON.search(dotted)
            if python and dotted.split(".")[0] in PACKAGES and (problem := _check_module(dotted)):
                problems.append(f"{where}: {dotted}: {problem}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_name_only_what_exists(doc: Path):
    problems = _problems(str(doc.relative_to(ROOT)), doc.read_text())
    assert not problems, "\n".join(problems)


def test_the_checker_catches_missing_paths_modules_and_names():
    """The checker itself fails for the reasons it claims."""
    text = (
        "Run `python -m monitoring.nothing` or python -m credit_scoring.\n"
        "See `credit_scoring/nothing.py` and `docs/architecture.md:12`.\n"
        "Call `feature_store.open_store` and `feature_store.no_such_name`.\n"
    )
    assert _problems("doc.md", text) == [
        "doc.md:1: python -m monitoring.nothing: no module monitoring.nothing",
        "doc.md:1: python -m credit_scoring: package credit_scoring has no __main__",
        "doc.md:2: credit_scoring/nothing.py does not exist",
        "doc.md:3: feature_store.no_such_name: no_such_name is not defined in feature_store/__init__.py",
    ]

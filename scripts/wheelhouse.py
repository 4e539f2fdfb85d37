"""Build, once per machine, the wheels of pinned packages that PyPI ships only as sdists.

Prints the folder holding them, for ``uv pip install --find-links`` (``make setup`` and
tests/deploy/test_images.py pass it). Why: pyspark is an sdist only, and uv keys its cached build
by the download's HTTP cache entry. Where the download comes back without Cache-Control, ETag or
Last-Modified (this machine's PyPI mirror sends none), uv finds the entry stale, cannot revalidate
it, downloads again and files a new revision: every new virtualenv then adds ~2.3 GB to uv's cache
(the unpacked sdist for the resolver's metadata, again with the built wheel, and the installed
copy). A wheel on --find-links is preferred to the sdist and cached by path and mtime, so it is
unpacked once and every later virtualenv links to that copy.

Usage: python scripts/wheelhouse.py [--constraints requirements/constraints.txt] [--dir DIR]
Runs with a Python that has pip (the project's .venv); only the build step downloads.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Pinned packages with no wheel on PyPI (checked: uv's cache holds builds of no other package).
SDIST_ONLY = ("pyspark",)


def default_dir() -> Path:
    """Per machine, outside any checkout, so fresh clones (CI) and throw-away venvs share it."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "credit-scoring" / "wheels"


def pinned(constraints: Path, name: str) -> str:
    """The version ``constraints`` pins for ``name`` (``name==version``)."""
    match = re.search(rf"^{re.escape(name)}==([^\s;#]+)", constraints.read_text(), flags=re.M)
    if match is None:
        raise SystemExit(f"{constraints}: no '{name}==' pin")
    return match.group(1)


def ensure(name: str, version: str, wheelhouse: Path) -> Path:
    """The wheel of ``name==version`` in ``wheelhouse``, built from the sdist if it is not there."""
    normalized = name.replace("-", "_")
    existing = sorted(wheelhouse.glob(f"{normalized}-{version}-*.whl"))
    if existing:
        return existing[0]
    print(f"building a {name}=={version} wheel into {wheelhouse} (once per machine)", file=sys.stderr)
    # Built in a scratch folder of the wheelhouse and renamed into place, so a build that is killed
    # or runs next to another one never leaves a partial wheel for uv to find.
    with tempfile.TemporaryDirectory(dir=wheelhouse, prefix=".build-") as scratch:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"),
                *("--no-deps", "--no-cache-dir", "--wheel-dir", scratch, f"{name}=={version}"),
            ],
            stdout=sys.stderr,  # stdout carries only the folder, for $(...) in the Makefile
            check=True,
        )
        (built,) = Path(scratch).glob(f"{normalized}-{version}-*.whl")
        target = wheelhouse / built.name
        os.replace(built, target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--constraints", type=Path, default=ROOT / "requirements" / "constraints.txt")
    parser.add_argument("--dir", type=Path, help="default: $XDG_CACHE_HOME/credit-scoring/wheels")
    args = parser.parse_args(argv)
    wheelhouse: Path = args.dir or default_dir()
    wheelhouse.mkdir(parents=True, exist_ok=True)
    for name in SDIST_ONLY:
        ensure(name, pinned(args.constraints, name), wheelhouse)
    print(wheelhouse)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fail when a tracked file looks like it holds a secret (run by ``make lint``).

Secrets reach the platform only from files or the environment (Kubernetes Secrets, settings
files); none belongs in the repository. This scans every file ``git ls-files`` lists (or the
paths given) for the shapes real credentials have: private-key blocks, cloud and forge tokens,
and a long literal assigned to a name like ``password``/``secret``/``token``/``api_key``. A line
that must hold such a shape (a test fixture, a documented example) says so with the marker
``secret-scan: allow`` on the same line. Placeholders (``${VAR}``, ``<api-key>``, ``$(...)``,
``changeme``...) never match.

Usage: ``python scripts/scan_secrets.py [PATH ...]``; exit 1 listing ``path:line: kind``, never
the matched text.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ALLOW = "secret-scan: allow"
_MAX_BYTES = 2_000_000

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private key",
        re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY( BLOCK)?-----"),
    ),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("credentials in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s:@'\"$<{]{8,})@")),
    (
        "secret assigned a literal",
        re.compile(
            r"(?i)\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key)[\w.-]*['\"]?\s*[:=]\s*"
            r"['\"]([A-Za-z0-9+/=_\-]{16,})['\"]"
        ),
    ),
)
# Literal values that are names or placeholders, not secrets.
_PLACEHOLDER = re.compile(r"(?i)^(?:x+|changeme.*|example.*|placeholder.*|dummy.*|unused|test.*|fake.*)$")


def _random_looking(value: str) -> bool:
    """Generated credentials mix letters and digits; names and paths (``/var/run/...``) do not."""
    return (
        not value.startswith(("/", "."))
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def tracked_files(root: Path) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return [root / p for p in out.decode().split("\0") if p]


def scan_text(text: str) -> list[tuple[int, str]]:
    """(line number, kind) of each suspicious line."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW in line:
            continue
        for kind, pattern in PATTERNS:
            match = pattern.search(line)
            if match is None:
                continue
            value = match.group(match.lastindex or 0) if match.lastindex else match.group(0)
            if _PLACEHOLDER.match(value) or (
                kind == "secret assigned a literal" and not _random_looking(value)
            ):
                continue
            found.append((number, kind))
            break
    return found


def scan(paths: list[Path]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            continue
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:
            continue  # binary
        for number, kind in scan_text(raw.decode("utf-8", errors="replace")):
            problems.append(
                f"{path}:{number}: looks like a {kind} (move it to a Secret, or mark the line '{ALLOW}')"
            )
    return problems


def main(argv: list[str]) -> int:
    root = Path.cwd()
    paths = [Path(a) for a in argv] if argv else tracked_files(root)
    problems = scan(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"secret scan: {len(paths)} files, nothing found")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

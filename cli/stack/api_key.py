"""The local stack's API key: generated once into ``$CREDIT_HOME/api-key``, found by the clients.

``stack up`` creates the file when it is absent (one line, mode 0600, never overwritten: a key
the user already handed out keeps working) and gives the transformer only its SHA-256
(``<stack dir>/api-key-hashes``, the format of ``transformer.auth``). ``credit-scoring score`` and
the demo send it; they look for it in the order ``--api-key``, ``CREDIT_API_KEY``, the file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

__all__ = ["API_KEY_FILE", "ensure_api_key", "find_api_key", "read_api_key", "write_key_hashes"]

API_KEY_FILE = "api-key"
LOCAL_CLIENT = "local"


def ensure_api_key(home: Path) -> tuple[Path, bool]:
    """``home/api-key`` (created with a new random key when absent); and whether it was created."""
    path = home / API_KEY_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: never overwrite, even if two commands race; 0600 from the start, not chmod'ed later.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path, False
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return path, True


def read_api_key(path: Path) -> str:
    key = path.read_text().strip()
    if not key or "\n" in key:
        raise ValueError(f"{path} must hold exactly one key on one line")
    return key


def write_key_hashes(path: Path, key: str) -> Path:
    """The transformer's key file: ``local:<sha256 of the key>``; the key itself is not written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{LOCAL_CLIENT}:{hashlib.sha256(key.encode()).hexdigest()}\n")
    return path


def find_api_key(given: str | None, home: Path) -> str | None:
    """``given`` (``--api-key`` or ``CREDIT_API_KEY``, which typer folds into one), else the file."""
    if given:
        return given
    env = os.environ.get("CREDIT_API_KEY")
    if env:
        return env
    path = home / API_KEY_FILE
    return read_api_key(path) if path.is_file() else None

"""A throw-away PostgreSQL cluster on loopback: one start-up for the benchmark and the tests.

``init_cluster`` runs initdb (trust authentication for the ``postgres`` role, UTF-8, C locale)
into a fresh folder outside any 0700 temporary tree; ``server_argv`` is the server's command line
on a loopback port, its socket in that folder. Each caller runs that command under its own
supervision (``bench/postgres.py`` through ``ProcessGroup``, ``tests/conftest.py`` through the
tests' processes) and polls ``accepts_queries``: the port opens before recovery ends.
PostgreSQL refuses to run as root, so as root the cluster belongs to, and the server runs as, the
``postgres`` (or ``nobody``) account (``server_account``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cli.stack.supervisor import LOCALHOST

__all__ = ["PostgresError", "accepts_queries", "init_cluster", "pg_binary", "server_account", "server_argv"]

SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    """PostgreSQL cannot be started here (tools or a non-root account missing)."""


def pg_binary(name: str) -> str:
    """A PostgreSQL server tool: on PATH, or in Debian's versioned directory (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        raise PostgresError(
            f"PostgreSQL's {name} not found: run `make system-deps` (apt-get install postgresql)"
        )
    return candidates[0]


def server_account() -> tuple[str, int, int] | None:
    """(name, uid, gid) to run the server as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise PostgresError("running as root but neither a 'postgres' nor a 'nobody' user exists")


def init_cluster(prefix: str) -> Path:
    """A new folder holding ``data/`` (an initdb'd cluster) and ``sock/``; the caller removes it."""
    account = server_account()
    # Outside pytest's 0700 tmp tree so the unprivileged server account can reach it.
    base = Path(tempfile.mkdtemp(prefix=prefix))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    if account is not None:
        for path in (base, data, sock):
            os.chown(path, account[1], account[2])
    subprocess.run(
        [
            *(pg_binary("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust"),
            *("-E", "UTF8", "--no-instructions", "--locale=C"),
        ],
        check=True,
        capture_output=True,
        user=account[0] if account else None,
        group=account[2] if account else None,
    )
    return base


def server_argv(base: Path, port: int, settings: Mapping[str, str] | None = None) -> list[str]:
    """The server of the cluster in ``base`` on ``LOCALHOST:port``, with extra ``-c`` settings."""
    argv = [pg_binary("postgres"), "-D", str(base / "data"), "-p", str(port), "-k", str(base / "sock")]
    for name, value in {"listen_addresses": LOCALHOST, **(settings or {})}.items():
        argv += ["-c", f"{name}={value}"]
    return argv


def accepts_queries(port: int, database: str = "postgres") -> bool:
    """True once the server answers a query (not merely an open port: recovery may be running)."""
    import psycopg

    try:
        with psycopg.connect(
            host=LOCALHOST, port=port, user=SUPERUSER, dbname=database, connect_timeout=2
        ) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError:
        return False
    return True

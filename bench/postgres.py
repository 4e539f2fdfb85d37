"""A PostgreSQL server for the inference log, the production setting (``make bench`` reports the
end-to-end and batch stages with the log on SQLite, the embedded default, and on PostgreSQL).

Started like every benchmark server, through ``ProcessSet`` on a free loopback port, with its data
in a fresh temporary directory that ``PostgresServer.remove`` deletes. PostgreSQL refuses to run
as root: when the benchmark runs as root the server runs as the ``postgres`` (or ``nobody``) user,
as the tests do (``tests/conftest.py``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.processes import LOCALHOST, BenchError, ProcessSet, free_port

__all__ = ["PostgresServer", "start_postgres"]

DATABASE = "inference_log"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    base: Path

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the inference-log database (what ``CREDIT_INFERENCE_LOG_URL`` takes)."""
        return f"postgresql+psycopg://postgres@{LOCALHOST}:{self.port}/{DATABASE}"

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise BenchError(f"PostgreSQL's {name} not found (apt-get install postgresql, or `make system-deps`)")
    return found


def _server_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise BenchError("running as root but neither a 'postgres' nor a 'nobody' user exists")


def _accepts_queries(port: int, database: str = "postgres") -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host=LOCALHOST, port=port, user="postgres", dbname=database, connect_timeout=2
        ) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError:
        return False
    return True


def start_postgres(procs: ProcessSet) -> PostgresServer:
    """initdb, start, create the inference-log database; stopped with everything else."""
    import psycopg

    account = _server_user()
    base = Path(tempfile.mkdtemp(prefix="credit-bench-pg-"))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    if account is not None:
        for path in (base, data, sock):
            os.chown(path, *account)
    subprocess.run(
        [_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
        check=True,
        capture_output=True,
        user=account[0] if account else None,
        group=account[1] if account else None,
    )
    port = free_port()
    server = [
        _binary("postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(sock),
        "-c",
        f"listen_addresses={LOCALHOST}",
    ]
    # setpriv execs the server in place: it is the process ProcessSet signals and measures.
    argv = (
        ["setpriv", f"--reuid={account[0]}", f"--regid={account[1]}", "--clear-groups", "--", *server]
        if account
        else server
    )
    procs.start("postgres", argv, port, ready_path=None, ready_check=lambda: _accepts_queries(port))
    with psycopg.connect(
        host=LOCALHOST, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return PostgresServer(port, base)

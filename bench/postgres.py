"""A PostgreSQL server for the inference log, the production setting (``make bench`` reports the
end-to-end and batch stages with the log on SQLite, the embedded default, and on PostgreSQL).

Started like every benchmark server, through the supervisor's ``ProcessGroup`` on a free loopback
port, with its data in a fresh temporary directory that ``PostgresServer.remove`` deletes.
PostgreSQL refuses to run as root: when the benchmark runs as root the server runs as the
``postgres`` (or ``nobody``) user, as the tests do (``tests/conftest.py``).
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

from bench import BenchError
from cli.stack.supervisor import LOCALHOST, ProcessGroup, free_port

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


def _server_user() -> tuple[str, int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
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


def start_postgres(procs: ProcessGroup) -> PostgresServer:
    """initdb, start, create the inference-log database; stopped with everything else."""
    import psycopg

    account = _server_user()
    base = Path(tempfile.mkdtemp(prefix="credit-bench-pg-"))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    user, group = (account[0], account[2]) if account else (None, None)
    if account is not None:
        for path in (base, data, sock):
            os.chown(path, account[1], account[2])
    subprocess.run(
        [_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
        check=True,
        capture_output=True,
        user=user,
        group=group,
    )
    port = free_port()
    argv = [
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
    procs.start("postgres", argv, port=port, ready=lambda: _accepts_queries(port), user=user, group=group)
    with psycopg.connect(
        host=LOCALHOST, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return PostgresServer(port, base)

"""A PostgreSQL server for the inference log, the production setting (``make bench`` reports the
end-to-end and batch stages with the log on SQLite, the embedded default, and on PostgreSQL).

Started like every benchmark server, through the supervisor's ``ProcessGroup`` on a free loopback
port, with its data in a fresh temporary directory that ``PostgresServer.remove`` deletes.
The cluster and the server's command line come from ``cli/stack/postgres.py``, shared with the
tests: as root the server runs as the ``postgres`` (or ``nobody``) user, which PostgreSQL requires.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cli.stack.postgres import accepts_queries, init_cluster, server_account, server_argv
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


def start_postgres(procs: ProcessGroup) -> PostgresServer:
    """initdb, start, create the inference-log database; stopped with everything else."""
    import psycopg

    account = server_account()
    base = init_cluster(prefix="credit-bench-pg-")
    port = free_port()
    procs.start(
        "postgres",
        server_argv(base, port),
        port=port,
        ready=lambda: accepts_queries(port),
        user=account[0] if account else None,
        group=account[2] if account else None,
    )
    with psycopg.connect(
        host=LOCALHOST, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return PostgresServer(port, base)

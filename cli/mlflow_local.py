"""The embedded MLflow: a local ``mlflow server`` on SQLite with a local artifact folder.

Used when no ``MLFLOW_TRACKING_URI`` is given (``credit-scoring train``, ``demo``, the local
stack). It mirrors production's shape: a real tracking server with a SQL backend, and
``--no-serve-artifacts`` so clients read and write artifacts in the artifact store themselves
(here a folder, in production S3/MinIO) instead of streaming model bytes through the server.

State lives under ``$CREDIT_HOME/mlflow`` (``mlflow.db``, ``artifacts/``, ``server.log``), so
models registered by one command are there for the next. The server binds 127.0.0.1 only and is
run by the one supervisor (``cli.stack.supervisor``) with the one command line
(``cli.stack.components.mlflow_server_command``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.stack.components import MLFLOW_SERVER_ENV, mlflow_server_command
from cli.stack.supervisor import LOCALHOST, ProcessError, Supervised, http_ready, port_open

__all__ = ["DEFAULT_PORT", "LocalMlflow", "LocalMlflowError", "local_mlflow", "tracking_uri"]

DEFAULT_PORT = 5000


class LocalMlflowError(RuntimeError):
    """The embedded MLflow server could not be started."""


@dataclass
class LocalMlflow:
    """An ``mlflow server`` for one ``CREDIT_HOME``; ``start`` reuses one already answering."""

    home: Path
    port: int = DEFAULT_PORT
    host: str = LOCALHOST
    _process: Supervised | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_dir(self) -> Path:
        return Path(self.home).resolve() / "mlflow"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def started_here(self) -> bool:
        return self._process is not None

    def command(self) -> list[str]:
        """The exact server command (the local stack runs the same one)."""
        state = self.state_dir
        return mlflow_server_command(
            f"sqlite:///{state / 'mlflow.db'}", (state / "artifacts").as_uri(), self.port, self.host
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def launch(self) -> Supervised:
        """Start the server process (not waiting for it); the caller supervises it."""
        if port_open(self.port, self.host):
            raise LocalMlflowError(
                f"{self.host}:{self.port} is in use by something that is not an MLflow server; "
                "free it, choose another port (CREDIT_MLFLOW_PORT) or set MLFLOW_TRACKING_URI"
            )
        (self.state_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        # The server must not take this process's client setting for itself.
        return Supervised.start(
            "mlflow",
            self.command(),
            self.log_path,
            port=self.port,
            env=MLFLOW_SERVER_ENV,
            unset=("MLFLOW_TRACKING_URI",),
        )

    def start(self, timeout: float = 180.0) -> str:
        """Start the server (or reuse a healthy one on the port); return its URL."""
        if self.healthy():
            return self.url
        process = self.launch()
        try:
            process.wait_ready(http_ready(f"{self.url}/health"), timeout)
        except ProcessError as exc:
            raise LocalMlflowError(str(exc)) from exc
        self._process = process
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server if this object started it (a reused one is left running)."""
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout)


@contextlib.contextmanager
def local_mlflow(home: Path, port: int = DEFAULT_PORT, host: str = LOCALHOST) -> Iterator[LocalMlflow]:
    """Run the embedded server for the duration of a block (stopping it only if started here)."""
    server = LocalMlflow(Path(home), port=port, host=host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def tracking_uri(configured: str | None, home: Path, port: int = DEFAULT_PORT) -> Iterator[str]:
    """``configured`` when set, else the embedded server's URL for the duration of the block."""
    if configured:
        yield configured
        return
    with local_mlflow(home, port=port) as server:
        yield server.url

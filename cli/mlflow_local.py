"""The embedded MLflow: a local ``mlflow server`` on SQLite with a local artifact folder.

Used when no ``MLFLOW_TRACKING_URI`` is given (``credit-scoring train``, ``demo``, the local
stack). It mirrors production's shape: a real tracking server with a SQL backend, and
``--no-serve-artifacts`` so clients read and write artifacts in the artifact store themselves
(here a folder, in production S3/MinIO) instead of streaming model bytes through the server.

State lives under ``$CREDIT_HOME/mlflow`` (``mlflow.db``, ``artifacts/``, ``server.log``), so
models registered by one command are there for the next. The server binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["DEFAULT_PORT", "LocalMlflow", "LocalMlflowError", "local_mlflow", "tracking_uri"]

DEFAULT_PORT = 5000


# MLflow 3's server also starts a pool of background job runners (for GenAI features this
# platform does not use): about ten extra processes competing for the CPU.
SERVER_ENV: Mapping[str, str] = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def stop_process_group(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """SIGTERM to ``proc``'s process group (servers drain and flush), SIGKILL if it lingers.

    ``proc`` must lead its own group (``start_new_session=True``)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class LocalMlflowError(RuntimeError):
    """The embedded MLflow server could not be started."""


@dataclass
class LocalMlflow:
    """An ``mlflow server`` for one ``CREDIT_HOME``; ``start`` reuses one already answering."""

    home: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

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
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{state / 'mlflow.db'}",
            "--default-artifact-root",
            (state / "artifacts").as_uri(),
            "--no-serve-artifacts",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _port_taken(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            return s.connect_ex((self.host, self.port)) == 0

    def start(self, timeout: float = 180.0) -> str:
        """Start the server (or reuse a healthy one on the port); return its URL."""
        if self.healthy():
            return self.url
        if self._port_taken():
            raise LocalMlflowError(
                f"{self.host}:{self.port} is in use by something that is not an MLflow server; "
                "free it, choose another port (CREDIT_MLFLOW_PORT) or set MLFLOW_TRACKING_URI"
            )
        (self.state_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Own process group, so stop() ends the server and the workers it forks.
            self._process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self._env(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise LocalMlflowError(f"mlflow server exited at start; see {self.log_path}:\n{self._tail()}")
            if self.healthy():
                return self.url
            time.sleep(0.25)
        self.stop()
        raise LocalMlflowError(f"mlflow server not ready after {timeout:.0f}s; see {self.log_path}")

    @staticmethod
    def _env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        for name, value in SERVER_ENV.items():
            env.setdefault(name, value)
        return env

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server if this object started it (a reused one is left running)."""
        proc, self._process = self._process, None
        stop_process_group(proc, timeout)

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def local_mlflow(home: Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> Iterator[LocalMlflow]:
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

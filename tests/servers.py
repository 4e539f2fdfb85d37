"""Start the real servers the tests talk to, as local processes on free loopback ports.

Every server binds 127.0.0.1 only, lives in a temporary directory and is stopped (then killed)
when its fixture ends. A server that does not come up fails the test with its log, never skips.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "Process",
    "free_port",
    "pg_binary",
    "require_binary",
    "start_process",
    "wait_for",
    "wait_http",
    "wait_port",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    """Path of a server binary; a missing one is a failure (``make test`` installs them)."""
    # The venv's own console scripts (mlflow, moto_server, feast) first, then the system PATH.
    path = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        raise RuntimeError(f"{name} is not on PATH: run `make system-deps` (or `make test`) first")
    return path


def pg_binary(name: str) -> str:
    """PostgreSQL server tools: on PATH, or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} not found: run `make system-deps` (or `make test`) first")
    return candidates[0]


@dataclass
class Process:
    """A server started for tests; ``log`` holds its combined output."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    port: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


def start_process(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    group: int | None = None,
) -> Process:
    """Start ``argv`` in its own process group (so children die with it), output to a log file.

    ``user``/``group``: run as another account (PostgreSQL refuses to run as root)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    # Importing Feast exports PROMETHEUS_MULTIPROC_DIR into this process; a server inheriting it
    # would switch its /metrics to multiprocess files.
    if "PROMETHEUS_MULTIPROC_DIR" not in (env or {}):
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # The venv's bin directory first, so console scripts (mlflow, feast, moto_server) resolve.
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=group,
        )
    return Process(name=name, popen=popen, log=log)


def wait_for(proc: Process, check: Callable[[], bool], timeout: float = 60.0, what: str = "ready") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}) before {what}:\n{proc.tail()}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"{proc.name} not {what} after {timeout:.0f}s:\n{proc.tail()}")


def wait_port(proc: Process, port: int, timeout: float = 60.0) -> None:
    def check() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    wait_for(proc, check, timeout, what=f"listening on {port}")


def wait_http(proc: Process, url: str, timeout: float = 60.0, status: int = 200) -> None:
    def check() -> bool:
        return httpx.get(url, timeout=2.0).status_code == status

    wait_for(proc, check, timeout, what=f"answering {url}")


@contextlib.contextmanager
def running(proc: Process) -> Iterator[Process]:
    try:
        yield proc
    finally:
        proc.stop()


MetricSamples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> MetricSamples:
    """``url``'s Prometheus samples: (name, labels) -> value."""
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class KServeEndpoints:
    """Addresses, metrics and log of a running KServe server process (predictor or transformer);
    mixed into the fixtures' dataclasses, which hold these three fields."""

    process: Process
    http_port: int
    grpc_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def metrics(self) -> MetricSamples:
        return scrape(f"{self.url}/metrics")

    def log(self) -> str:
        return self.process.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.stop()

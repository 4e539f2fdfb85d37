"""Start the real servers the tests talk to, as local processes on free loopback ports.

Every server binds 127.0.0.1 only, lives in a temporary directory and is stopped (then killed)
when its fixture ends. A server that does not come up fails the test with its log, never skips.
Processes are run by the one supervisor (``cli.stack.supervisor``) the local stack and the
benchmark use; the platform's own command lines come from ``cli.stack.components``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cli.stack.supervisor import Supervised, free_port, http_ready, port_listening

__all__ = [
    "Process",
    "eventually",
    "free_port",
    "require_binary",
    "start_process",
    "wait_for",
    "wait_http",
    "wait_port",
]

Process = Supervised


def require_binary(name: str) -> str:
    """Path of a server binary; a missing one is a failure (``make test`` installs them)."""
    # The venv's own console scripts (mlflow, moto_server, feast) first, then the system PATH.
    path = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        raise RuntimeError(f"{name} is not on PATH: run `make system-deps` (or `make test`) first")
    return path


def start_process(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    group: int | None = None,
) -> Process:
    """Start ``argv`` in its own process group (so children die with it), output to
    ``log_dir/<name>.log``. ``user``/``group``: run as another account (PostgreSQL refuses root)."""
    return Supervised.start(name, argv, log_dir / f"{name}.log", env=env, cwd=cwd, user=user, group=group)


def wait_for(proc: Process, check: Callable[[], bool], timeout: float = 60.0, what: str = "ready") -> None:
    """Wait until ``check()`` holds; a process that exits or times out fails with its log."""
    proc.wait_ready(check, timeout, what)


def eventually(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """``check()``'s first truthy value, polled every ``interval`` seconds; fails after ``timeout``
    (for conditions no process of ours owns: rows written, gauges scraped, alerts firing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_port(proc: Process, port: int, timeout: float = 60.0) -> None:
    wait_for(proc, port_listening(port), timeout, what=f"listening on {port}")


def wait_http(proc: Process, url: str, timeout: float = 60.0, status: int = 200) -> None:
    wait_for(proc, http_ready(url, status), timeout, what=f"answering {url}")


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

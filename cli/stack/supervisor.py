"""The one process supervisor: the local stack, the embedded MLflow, the benchmark and the tests.

Every server runs in its own session (process group), so stopping it also stops whatever it
forked (MLflow's and MLServer's workers, uvicorn workers). Stopping is one routine for all:
SIGTERM to the group (servers drain; the transformer flushes its inference log), a wait, SIGKILL
to the group if the leader lingers, and SIGKILL to whatever of the group outlived its leader.
Output goes to one log file per process; a process that exits before it is ready, or is not
ready in time, raises ``ProcessError`` with the tail of its log (and is stopped).

A process started by another program (``credit-scoring stack up`` in another shell) is attached
by pid and start time: a recycled pid running something else is never taken for ours.
Process trees and CPU times come from psutil; the peak RSS is the kernel's high-water mark
(``VmHWM``), which psutil does not expose.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

__all__ = [
    "LOCALHOST",
    "ProcessError",
    "ProcessGroup",
    "ProcessUsage",
    "ReadyCheck",
    "Supervised",
    "child_environment",
    "free_port",
    "http_ready",
    "port_listening",
    "port_open",
]

LOCALHOST = "127.0.0.1"
ReadyCheck = Callable[[], bool]

# `import feast` sets PROMETHEUS_MULTIPROC_DIR (feast/metrics.py) in the importing process, which
# switches prometheus_client to files that /metrics never reads. Servers must start with the
# environment a container gives them, not with that side effect of their parent.
NOT_INHERITED = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR", "prometheus_multiproc_dir")
# Two processes started in the same clock tick share a start time; a pid recycled by then is not.
_SAME_START = 0.05


class ProcessError(RuntimeError):
    """A supervised process did not start or get ready; the message holds the tail of its log."""


# Ports this process handed out lately. The kernel picks a free port at random from ~28k, so
# two calls (a server's HTTP and gRPC ports) can get the same one once it is closed again: in
# 2,000 calls here ~130 repeats. The CI once started a transformer with REST and gRPC both on one
# port. A port handed out is not handed out again until _RECENT more have been.
_RECENT = 4096
_given: OrderedDict[int, None] = OrderedDict()
_given_lock = threading.Lock()


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on right now (the kernel's choice), not one handed out lately."""
    with _given_lock, contextlib.ExitStack() as held:
        while True:
            # A refused port stays bound until the choice is made, so the kernel cannot offer it again.
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            port = int(s.getsockname()[1])
            if port not in _given:
                break
        _given[port] = None
        if len(_given) > _RECENT:
            _given.popitem(last=False)
        return port


def port_open(port: int, host: str = LOCALHOST) -> bool:
    """Something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def port_listening(port: int, host: str = LOCALHOST) -> ReadyCheck:
    """Readiness: the port accepts connections."""
    return lambda: port_open(port, host)


def http_ready(url: str, status: int = 200) -> ReadyCheck:
    """Readiness: ``GET url`` answers ``status``."""

    def check() -> bool:
        return httpx.get(url, timeout=2.0).status_code == status

    return check


def child_environment(env: Mapping[str, str] | None = None, unset: Sequence[str] = ()) -> dict[str, str]:
    """This process's environment for a child: without ``unset`` and ``NOT_INHERITED``, the venv's
    bin folder first on PATH (console scripts such as mlflow and moto_server resolve), ``env`` on top."""
    drop = {*NOT_INHERITED, *unset}
    out = {k: v for k, v in os.environ.items() if k not in drop}
    out["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{out.get('PATH', '')}"
    out.update(env or {})
    return out


def _start_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class ProcessUsage:
    """Peak RSS of one process of a supervised tree."""

    pid: int
    command: str
    peak_rss_mib: float


@dataclass
class Supervised:
    """One server process: started here (``start``) or recorded by another program (``attach``)."""

    name: str
    argv: list[str]
    log: Path
    pid: int
    started_at: float
    """The kernel's start time of ``pid`` (seconds since the epoch): tells our process from a
    later one that got the same pid."""
    port: int = 0
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ start / attach
    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        cwd: Path | None = None,
        user: str | None = None,
        group: int | None = None,
    ) -> Supervised:
        """Start ``argv`` in its own session, output appended to ``log``.

        ``user``/``group``: run as another account (PostgreSQL refuses to run as root)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_environment(env, unset),
                cwd=cwd,
                start_new_session=True,
                user=user,
                group=group,
            )
        return cls(name, list(argv), log, popen.pid, _start_time(popen.pid), port, popen)

    @classmethod
    def attach(cls, record: Mapping[str, Any]) -> Supervised:
        """A process another program started, from its ``record()``."""
        return cls(
            str(record["name"]),
            list(record["argv"]),
            Path(record["log"]),
            int(record["pid"]),
            float(record["started_at"]),
            int(record.get("port", 0)),
        )

    def record(self) -> dict[str, Any]:
        """What ``attach`` needs, JSON-able."""
        return {
            "name": self.name,
            "pid": self.pid,
            "started_at": self.started_at,
            "argv": self.argv,
            "log": str(self.log),
            "port": self.port,
        }

    # ------------------------------------------------------------------ state
    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        if self.popen is not None:
            # Started here: ask the Popen (it reaps a zombie).
            return self.popen.poll() is None
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.started_at) > _SAME_START:
                return False  # the pid now belongs to another process
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def wait(self, timeout: float) -> int | None:
        """Wait for the process to exit; its exit code (None when not started here)."""
        if self.popen is not None:
            return self.popen.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.argv, timeout)
            time.sleep(0.1)
        return None

    def wait_ready(self, check: ReadyCheck, timeout: float, what: str = "ready") -> None:
        """Return once ``check()`` holds; stop the process and raise if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcessError(
                    f"{self.name} exited at start (code {self.returncode}) before {what}; "
                    f"see {self.log}:\n{self.tail()}"
                )
            with contextlib.suppress(OSError, httpx.HTTPError):
                if check():
                    return
            time.sleep(0.1)
        self.stop()
        raise ProcessError(f"{self.name} not {what} after {timeout:.0f}s; see {self.log}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ------------------------------------------------------------------ stop
    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """``sig`` to the process group (servers drain and flush), SIGKILL if the leader lingers,
        then SIGKILL to whatever of the group outlived it (workers the leader did not take down)."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)
        try:
            self.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(5.0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    # ------------------------------------------------------------------ measurements
    def tree(self) -> list[int]:
        """The process and all its live descendants."""
        try:
            process = psutil.Process(self.pid)
            return [self.pid, *(child.pid for child in process.children(recursive=True))]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and everything it forked, so far."""
        total = 0.0
        for pid in self.tree():
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
        return total

    def usage(self) -> list[ProcessUsage]:
        """Peak RSS of each process of the tree (the kernel's high-water mark)."""
        out = []
        for pid in self.tree():
            try:
                command = " ".join(psutil.Process(pid).cmdline())[:200]
            except psutil.Error:
                continue
            out.append(ProcessUsage(pid, command, round(_peak_rss_kib(pid) / 1024.0, 1)))
        return out


class ProcessGroup:
    """Processes started together (a benchmark run, a test fixture); ``close`` stops them all,
    last started first, whatever ended the block (an error, Ctrl-C, SIGTERM, a timeout): nothing
    is left behind on a shared machine."""

    def __init__(self, log_dir: Path, ready_timeout: float = 60.0) -> None:
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.processes: list[Supervised] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: ReadyCheck | None = None,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        cwd: Path | None = None,
        user: str | None = None,
        group: int | None = None,
        timeout: float | None = None,
    ) -> Supervised:
        """Start ``name`` (log ``<log_dir>/<name>.log``) and, given ``ready``, wait until it holds."""
        process = Supervised.start(
            name,
            argv,
            self.log_dir / f"{name}.log",
            port=port,
            env=env,
            unset=unset,
            cwd=cwd,
            user=user,
            group=group,
        )
        self.processes.append(process)
        if ready is not None:
            process.wait_ready(ready, self.ready_timeout if timeout is None else timeout)
        return process

    def stop(self, process: Supervised) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[ProcessGroup]:
        """The group for the duration of a block; SIGTERM (``timeout make bench``) becomes an
        exception there, so the processes are stopped on the way out."""
        previous = signal.getsignal(signal.SIGTERM)

        def _terminate(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        with contextlib.suppress(ValueError):  # not the main thread: keep the default
            signal.signal(signal.SIGTERM, _terminate)
        try:
            yield self
        finally:
            self.close()
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGTERM, previous)

"""Server processes for the benchmark: start on free loopback ports, wait ready, measure, stop.

Every server runs in its own session (process group), so stopping it also stops whatever it
forked (MLServer's parallel workers, uvicorn workers). ``ProcessSet`` stops everything it started
when the block ends, whatever the reason (an error, Ctrl-C, a timeout): a benchmark must never
leave servers behind on a shared machine.

Measurements come from ``/proc`` (no dependency): peak RSS is the kernel's high-water mark
``VmHWM`` of each process, CPU time is ``utime + stime`` of the process tree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.mlflow_local import stop_process_group

__all__ = [
    "LOCALHOST",
    "BenchError",
    "ProcessSet",
    "ProcessUsage",
    "Server",
    "free_port",
    "tree_pids",
]

LOCALHOST = "127.0.0.1"
# `import feast` sets PROMETHEUS_MULTIPROC_DIR (feast/metrics.py) in the importing process, which
# switches prometheus_client to mmap-backed metric values. The harness imports Feast; the servers
# must start with the environment a container gives them, not with that side effect.
_NOT_INHERITED = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR", "prometheus_multiproc_dir")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what failed and where its log is."""


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from one scan of ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 (utime, stime) are at index 11 and 12 after the command name.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(p for p in raw.decode(errors="replace").split("\0") if p)[:200]


@dataclass(frozen=True)
class ProcessUsage:
    """Peak RSS of one process of a server's tree."""

    pid: int
    command: str
    peak_rss_mib: float


@dataclass
class Server:
    """One server process: argv, environment, port and the URL path that says it is ready."""

    name: str
    argv: Sequence[str]
    port: int
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str | None = "/v2/health/ready"
    ready_check: Callable[[], bool] | None = None
    cwd: Path | None = None
    unset: tuple[str, ...] = ()
    """Variables of this process's environment the server must not inherit."""
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise BenchError(f"{self.name} is not running")
        return self.popen.pid

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={
                    **{
                        k: v for k, v in os.environ.items() if k not in self.unset and k not in _NOT_INHERITED
                    },
                    **self.env,
                },
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ready(self) -> bool:
        if self.ready_check is not None:
            return self.ready_check()
        if self.ready_path is None:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                return s.connect_ex((LOCALHOST, self.port)) == 0
        try:
            return httpx.get(f"{self.url}{self.ready_path}", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.popen.returncode if self.popen is not None else None
                raise BenchError(f"{self.name} exited at start (code {code}); see {self.log}:\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.2)
        raise BenchError(f"{self.name} not ready after {timeout:.0f}s; see {self.log}:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and everything it forked, so far."""
        return sum(_cpu_seconds(p) for p in tree_pids(self.pid)) if self.alive() else 0.0

    def usage(self) -> list[ProcessUsage]:
        """Peak RSS of each process of the tree (the kernel's high-water mark)."""
        if not self.alive():
            return []
        return [
            ProcessUsage(p, _command(p), round(_peak_rss_kib(p) / 1024.0, 1)) for p in tree_pids(self.pid)
        ]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group (servers drain and flush), SIGKILL if it lingers."""
        proc = self.popen
        if proc is None or proc.poll() is not None:
            return
        stop_process_group(proc, timeout)
        # Workers the leader did not take down with it (same process group).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ProcessSet:
    """The servers of one benchmark run; ``close`` stops them all, last started first."""

    def __init__(self, log_dir: Path, ready_timeout: float) -> None:
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.servers: list[Server] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        ready_path: str | None = "/v2/health/ready",
        ready_check: Callable[[], bool] | None = None,
        cwd: Path | None = None,
        unset: Sequence[str] = (),
        wait: bool = True,
    ) -> Server:
        server = Server(
            name,
            argv,
            port,
            self.log_dir / f"{name}.log",
            dict(env or {}),
            ready_path,
            ready_check,
            cwd,
            tuple(unset),
        )
        self.servers.append(server.start())
        if wait:
            server.wait_ready(self.ready_timeout)
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[ProcessSet]:
        # SIGTERM (e.g. `timeout make bench`) becomes an exception, so the finally below runs.
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

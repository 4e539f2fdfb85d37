"""Server processes: what they inherit, how they are measured, and that stopping leaves nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.processes import BenchError, ProcessSet, Server, free_port, tree_pids

_CHILD_AND_GRANDCHILD = (
    "import os, subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('PROMETHEUS', os.environ.get('PROMETHEUS_MULTIPROC_DIR'), os.environ.get('BENCH_TEST_DROP'),"
    " os.environ.get('BENCH_TEST_SET'), flush=True)\n"
    "x = bytearray(64 * 1024 * 1024)\n"  # touch some memory: peak RSS must show it
    "t = time.time()\n"
    "while time.time() - t < 0.5: pass\n"  # some CPU time
    "time.sleep(60)\n"
)


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_environment_usage_and_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # what `import feast` does
    monkeypatch.setenv("BENCH_TEST_DROP", "inherited")
    procs = ProcessSet(tmp_path / "logs", ready_timeout=30)
    with procs.running():
        server = procs.start(
            "child",
            [sys.executable, "-c", _CHILD_AND_GRANDCHILD],
            free_port(),
            env={"BENCH_TEST_SET": "given"},
            unset=("BENCH_TEST_DROP",),
            ready_path=None,
            ready_check=lambda: "PROMETHEUS" in (tmp_path / "logs" / "child.log").read_text(),
        )
        assert (tmp_path / "logs" / "child.log").read_text().split() == [
            "PROMETHEUS",
            "None",
            "None",
            "given",
        ]
        _wait(lambda: len(tree_pids(server.pid)) == 2)
        pids = tree_pids(server.pid)
        _wait(lambda: server.cpu_seconds() > 0.3)
        usage = {u.pid: u for u in server.usage()}
        assert set(usage) == set(pids)
        assert usage[server.pid].peak_rss_mib > 64
    # Stopped with its whole process group, the grandchild included.
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert procs.servers == []


def test_exit_at_start_is_reported_with_the_log(tmp_path: Path) -> None:
    server = Server(
        "broken",
        [sys.executable, "-c", "print('cannot bind'); raise SystemExit(3)"],
        free_port(),
        tmp_path / "broken.log",
        ready_path=None,
        ready_check=lambda: False,
    )
    server.start()
    with pytest.raises(BenchError, match=r"(?s)broken exited at start \(code 3\).*cannot bind"):
        server.wait_ready(10)

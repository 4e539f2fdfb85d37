"""The one supervisor: what children inherit, how they are measured, how they stop (whole group,
SIGTERM then SIGKILL), readiness failures with the log, and processes attached from a record."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.stack.supervisor import ProcessError, ProcessGroup, Supervised, free_port, http_ready, port_open

_CHILD_AND_GRANDCHILD = (
    "import os, subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('PROMETHEUS', os.environ.get('PROMETHEUS_MULTIPROC_DIR'), os.environ.get('SUPERVISOR_TEST_DROP'),"
    " os.environ.get('SUPERVISOR_TEST_SET'), flush=True)\n"
    "x = bytearray(64 * 1024 * 1024)\n"  # touch some memory: peak RSS must show it
    # Some CPU time: counted in CPU seconds, so a loaded machine only makes it take longer.
    "while time.process_time() < 0.5: pass\n"
    "time.sleep(60)\n"
)
# Ignores SIGTERM: only SIGKILL ends it. Says so once the handler is in place.
_STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('armed', flush=True)\n"
    "time.sleep(120)\n"
)


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _logged(path: Path, text: str) -> Callable[[], bool]:
    return lambda: path.exists() and text in path.read_text()


def test_environment_usage_and_stop_of_the_whole_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # what `import feast` does
    monkeypatch.setenv("SUPERVISOR_TEST_DROP", "inherited")
    group = ProcessGroup(tmp_path / "logs", ready_timeout=30)
    log = tmp_path / "logs" / "child.log"
    with group.running():
        child = group.start(
            "child",
            [sys.executable, "-c", _CHILD_AND_GRANDCHILD],
            env={"SUPERVISOR_TEST_SET": "given"},
            unset=("SUPERVISOR_TEST_DROP",),
            ready=_logged(log, "PROMETHEUS"),
        )
        assert log.read_text().split() == ["PROMETHEUS", "None", "None", "given"]
        _wait(lambda: len(child.tree()) == 2)
        pids = child.tree()
        _wait(lambda: child.cpu_seconds() > 0.3)
        usage = {u.pid: u for u in child.usage()}
        assert set(usage) == set(pids)
        assert usage[child.pid].peak_rss_mib > 64
    # Stopped with its whole process group, the grandchild included.
    assert all(_gone(pid) for pid in pids)
    assert group.processes == []


def test_exit_at_start_is_reported_with_the_log(tmp_path: Path):
    broken = Supervised.start(
        "broken", [sys.executable, "-c", "print('cannot bind'); raise SystemExit(3)"], tmp_path / "broken.log"
    )
    with pytest.raises(ProcessError, match=r"(?s)broken exited at start \(code 3\) before ready.*cannot"):
        broken.wait_ready(lambda: False, 10)


def test_not_ready_in_time_is_stopped_and_reported(tmp_path: Path):
    port = free_port()  # nothing will ever answer there
    slow = Supervised.start(
        "slow",
        [sys.executable, "-c", "print('still loading', flush=True); import time; time.sleep(60)"],
        tmp_path / "slow.log",
    )
    _wait(_logged(slow.log, "still loading"))
    with pytest.raises(ProcessError, match=r"(?s)slow not answering .* after 1s.*still loading"):
        slow.wait_ready(
            http_ready(f"http://127.0.0.1:{port}/"), 1, what=f"answering http://127.0.0.1:{port}/"
        )
    assert not slow.alive()


def test_sigterm_first_then_sigkill_for_a_process_that_ignores_it(tmp_path: Path):
    stubborn = Supervised.start("stubborn", [sys.executable, "-c", _STUBBORN], tmp_path / "stubborn.log")
    _wait(_logged(stubborn.log, "armed"))
    started = time.monotonic()
    stubborn.stop(timeout=1.0)
    assert time.monotonic() - started >= 1.0  # it was given its SIGTERM grace period
    assert not stubborn.alive()
    assert stubborn.returncode == -signal.SIGKILL


def test_a_process_attached_from_its_record_is_stopped_from_another_shell(tmp_path: Path):
    """What `stack down` does: the starter is gone, only the record (pid + start time) is left."""
    runner = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, time\n"
            "from pathlib import Path\n"
            "from cli.stack.supervisor import Supervised\n"
            f"p = Supervised.start('sleeper', [sys.executable, '-c', 'import time; time.sleep(120)'], "
            f"Path({str(tmp_path / 'sleeper.log')!r}))\n"
            "print(json.dumps(p.record()))\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    record = json.loads(runner.stdout)
    attached = Supervised.attach(record)
    assert attached.alive()
    # A record whose start time is not that pid's (the pid was recycled) is not ours.
    assert not Supervised.attach({**record, "started_at": record["started_at"] - 3600}).alive()
    attached.stop(timeout=10)
    _wait(lambda: _gone(record["pid"]))
    assert not attached.alive()


def test_group_close_stops_every_process(tmp_path: Path):
    group = ProcessGroup(tmp_path, ready_timeout=30)
    port = free_port()
    server = group.start(
        "server",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        port=port,
        ready=http_ready(f"http://127.0.0.1:{port}/"),
    )
    assert server.url == f"http://127.0.0.1:{port}"
    assert port_open(port)
    other = group.start("other", [sys.executable, "-c", "import time; time.sleep(60)"])
    group.close()
    assert not server.alive()
    assert not other.alive()
    assert not port_open(port)
    assert group.processes == []


def test_free_ports_are_not_handed_out_twice():
    # The kernel's random choice repeated a port ~130 times in 2,000 calls: once, in CI, a
    # transformer's REST and gRPC ports were the same and it could not start.
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)

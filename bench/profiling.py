"""Where the time goes in the running servers: py-spy samples under load, summarised.

``py-spy record --format raw`` writes one line per distinct stack with its sample count (idle
threads are not sampled, so the counts are CPU-active time). Time spent in C code (XGBoost,
orjson, httptools, uvloop) is charged to the Python frame that called it. The summary gives,
per process: the share of samples by package of the innermost frame (own time), the top
innermost functions, and the inclusive share of our own functions (time under them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["find_py_spy", "record", "summarise"]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")
_OURS = ("predictor", "transformer", "credit_scoring", "inference_log", "feature_store", "serving", "bench")
# The frames every sample of a server shares (entry point down to the event loop): their
# inclusive share is ~100% and says nothing, so they are left out of the inclusive ranking.
_ENTRY = {"<module>", "main", "serve", "_run", "_run_module_as_main", "_run_code"}


def find_py_spy(extra_dirs: list[Path]) -> str | None:
    for d in extra_dirs:
        candidate = d / "py-spy"
        if candidate.exists():
            return str(candidate)
    return shutil.which("py-spy")


def record(
    py_spy: str, pids: dict[str, int], seconds: float, out_dir: Path, load: Callable[[], object]
) -> dict[str, Any]:
    """Sample every pid for ``seconds`` while ``load()`` runs; return a summary per process."""
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, pid in pids.items():
        out = out_dir / f"{name}.txt"
        log = (out_dir / f"{name}.log").open("wb")
        procs[name] = (
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            out,
            log,
        )
    try:
        load()
    finally:
        results: dict[str, Any] = {}
        for name, (proc, out, log) in procs.items():
            try:
                proc.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.close()
            if proc.returncode != 0 or not out.exists():
                tail = (out_dir / f"{name}.log").read_text(errors="replace")[-300:]
                results[name] = {"error": f"py-spy exited {proc.returncode}: {tail.strip()}"}
            else:
                results[name] = summarise(out.read_text(errors="replace"))
    return results


def _frame(text: str) -> tuple[str, str]:
    """(function, file) of one raw frame ``func (path/to/file.py:123)``."""
    m = _FRAME.match(text.strip())
    if m is None:
        return text.strip(), ""
    return m.group("func"), m.group("file")


def _package(path: str) -> str:
    """Top-level package of a frame's file. py-spy prints paths relative to their ``sys.path``
    entry (``uvicorn/protocols/http/httptools_impl.py``, ``asyncio/runners.py``)."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/python3." in path:
        path = path.split("/python3.", 1)[1].split("/", 1)[-1]
    top = path.split("/", 1)[0].removesuffix(".py")
    if top in _OURS:
        return "bench" if top == "bench" else f"{top} (ours)"
    if top in sys.stdlib_module_names:
        return f"{top} (stdlib)"
    return top or "?"


def _short(func: str, path: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        if "/python3." in path:
            path = path.split("/python3.", 1)[1].split("/", 1)[-1]
    return f"{func} ({path})"


def summarise(raw: str, top: int = 12) -> dict[str, Any]:
    own_pkg: Counter[str] = Counter()
    own_func: Counter[str] = Counter()
    ours_inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        func, path = _frame(frames[-1])
        own_pkg[_package(path)] += count
        own_func[_short(func, path)] += count
        seen = set()
        for frame in frames:
            f, p = _frame(frame)
            if _package(p).endswith("(ours)") and f not in _ENTRY and not f.endswith(".start"):
                key = _short(f, p)
                if key not in seen:
                    seen.add(key)
                    ours_inclusive[key] += count

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return (
            [{"name": k, "share": round(v / total, 3)} for k, v in counter.most_common(top)] if total else []
        )

    return {
        "samples": total,
        "own_time_by_package": shares(own_pkg),
        "own_time_by_function": shares(own_func),
        "inclusive_time_in_our_functions": shares(ours_inclusive),
    }

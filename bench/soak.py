"""``make soak`` (``python -m bench.soak``): a bounded steady-rate run against our serving pair.

Not a benchmark: it asks whether the servers hold up over time, not how fast they are. The
environment is ``make bench``'s (``bench.environment``: data, Redis + Feast, embedded MLflow, a
trained model) and the servers are started with the containers' command lines
(``bench.servers``: predictor, transformer with the inference log on SQLite), all on loopback.

Requests are sent open loop at a fixed rate (``--rate`` per second; most carry one application,
every tenth a batch of ten), at most ``--max-in-flight`` at once (a request that would exceed it
is counted as an error: the servers fell behind). Every ``--window`` seconds it records the
requests, errors and p99 latency of that window and the resident memory (RSS, with children) of
every server process. The result, ``bench/results/soak.json``: errors (must be 0), p99 over time,
and each process's RSS growth from the end of the warm-up to the end (should stay under 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.payloads import transformer_v1_body
from bench.settings import BENCH_DIR

__all__ = ["SoakResult", "main", "rss_bytes", "soak"]

PATH = "/v1/models/credit-scoring:predict"


@dataclass
class _Window:
    start: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class SoakResult:
    seconds: float
    rate: float
    requests: int
    errors: int
    error_kinds: dict[str, int]
    windows: list[dict[str, Any]]
    rss: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "rate_per_second": self.rate,
            "requests": self.requests,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "max_rss_growth_pct": max((r["growth_pct"] for r in self.rss.values()), default=0.0),
            "windows": self.windows,
            "rss": self.rss,
        }


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (0 once it is gone)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return int(
            process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
        )
    except psutil.Error:
        return 0


def _bodies(applications: Sequence[Mapping[str, Any]], count: int = 200) -> list[bytes]:
    """One application per body, every tenth a batch of ten (real applications, rotating)."""
    out = []
    n = len(applications)
    for i in range(count):
        size = 10 if i % 10 == 9 else 1
        out.append(transformer_v1_body([dict(applications[(i * 13 + j) % n]) for j in range(size)]))
    return out


async def _run(
    url: str,
    bodies: list[bytes],
    *,
    seconds: float,
    rate: float,
    window: float,
    max_in_flight: int,
    timeout: float,
    sample: Callable[[float], None],
    headers: Mapping[str, str] | None = None,
) -> tuple[list[_Window], Counter[str]]:
    import aiohttp

    kinds: Counter[str] = Counter()
    start = time.monotonic()
    windows = [_Window(0.0)]
    in_flight = 0
    tasks: set[asyncio.Task[None]] = set()

    def current() -> _Window:
        return windows[-1]

    async def one(session: aiohttp.ClientSession, body: bytes) -> None:
        nonlocal in_flight
        sent = time.monotonic()
        bucket = current()
        try:
            sent_headers = {"content-type": "application/json", **(headers or {})}
            async with session.post(url, data=body, headers=sent_headers) as r:
                await r.read()
                if r.status != 200:
                    kinds[f"http {r.status}"] += 1
                    bucket.errors += 1
                else:
                    bucket.latencies.append(time.monotonic() - sent)
        except (aiohttp.ClientError, TimeoutError) as exc:
            kinds[type(exc).__name__] += 1
            bucket.errors += 1
        finally:
            in_flight -= 1

    connector = aiohttp.TCPConnector(limit=max_in_flight)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        i = 0
        next_window = start + window
        while (now := time.monotonic()) < start + seconds:
            if now >= next_window:
                sample(now - start)
                windows.append(_Window(now - start))
                next_window += window
            due = start + i / rate
            if due > now:
                await asyncio.sleep(min(due - now, max(0.0, next_window - now)))
                continue
            i += 1
            if in_flight >= max_in_flight:
                kinds["behind (max in flight)"] += 1
                current().errors += 1
                continue
            in_flight += 1
            task = asyncio.create_task(one(session, bodies[i % len(bodies)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 1)
        sample(time.monotonic() - start)
    return windows, kinds


def soak(
    url: str,
    applications: Sequence[Mapping[str, Any]],
    processes: Mapping[str, int],
    *,
    seconds: float,
    rate: float = 50.0,
    window: float = 10.0,
    warmup: float = 60.0,
    max_in_flight: int = 64,
    timeout: float = 10.0,
    progress: Callable[[str], None] = lambda _m: None,
    headers: Mapping[str, str] | None = None,
) -> SoakResult:
    """Send ``rate`` requests a second to ``url`` for ``seconds``; RSS of ``processes`` (name -> pid).
    ``headers`` go with every request (the transformer's API key)."""
    warmup = min(warmup, seconds / 3)
    rss: dict[str, list[tuple[float, int]]] = {name: [] for name in processes}

    def sample(at: float) -> None:
        for name, pid in processes.items():
            rss[name].append((at, rss_bytes(pid)))
        progress(f"soak: {at:.0f}s of {seconds:.0f}s")

    sample(0.0)
    windows, kinds = asyncio.run(
        _run(
            url,
            _bodies(applications),
            seconds=seconds,
            rate=rate,
            window=window,
            max_in_flight=max_in_flight,
            timeout=timeout,
            sample=sample,
            headers=headers,
        )
    )
    rows: list[dict[str, Any]] = []
    for w in windows:
        lat = np.array(w.latencies) * 1000.0
        rows.append(
            {
                "t_seconds": round(w.start, 1),
                "requests": len(w.latencies) + w.errors,
                "errors": w.errors,
                "p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None,
            }
        )
    growth = {}
    for name, samples in rss.items():
        after = [b for t, b in samples if t >= warmup and b] or [b for _, b in samples if b]
        base, end = (after[0], after[-1]) if after else (0, 0)
        growth[name] = {
            "after_warmup_mb": round(base / 2**20, 1),
            "end_mb": round(end / 2**20, 1),
            "growth_pct": round(100.0 * (end - base) / base, 2) if base else 0.0,
        }
    errors = sum(w.errors for w in windows)
    return SoakResult(
        seconds=seconds,
        rate=rate,
        requests=sum(int(r["requests"]) for r in rows),
        errors=errors,
        error_kinds=dict(kinds),
        windows=rows,
        rss=growth,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Bounded steady-rate run against the predictor and transformer on loopback "
        "(make bench's environment); writes errors, p99 over time and RSS growth to a JSON file.",
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the run (SOAK_SECONDS)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per p99/RSS sample")
    parser.add_argument("--warmup", type=float, default=60.0, help="RSS growth is measured after this")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "soak.json")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 24 * 3600 or not 0 < args.rate <= 1000:
        parser.error("--seconds must be within 1..86400 and --rate within 0..1000")

    from bench.environment import build_environment
    from bench.servers import TRANSFORMERS, Servers
    from bench.settings import BenchSettings
    from cli.stack.supervisor import LOCALHOST, ProcessGroup

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    run_dir = args.out.parent / "soak"
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = BenchSettings()
    with ProcessGroup(run_dir / "logs", ready_timeout=settings.ready_timeout_seconds).running() as procs:
        env = build_environment(run_dir, procs, workload_size=512, progress=progress)
        servers = Servers(procs, settings, run_dir, progress)
        servers.start_ours(env, None)
        transformer = servers.running[TRANSFORMERS["sqlite"]]
        pids = {p.name: p.pid for p in procs.processes}
        result = soak(
            f"http://{LOCALHOST}:{transformer.port}{PATH}",
            env.workload.applications,
            pids,
            seconds=args.seconds,
            rate=args.rate,
            window=args.window,
            warmup=args.warmup,
            progress=progress,
            headers={"x-api-key": servers.api_key},
        )
    args.out.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    summary = result.as_dict()
    progress(
        f"soak: {summary['requests']} requests, {summary['errors']} errors, "
        f"max RSS growth {summary['max_rss_growth_pct']}% -> {args.out}"
    )
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

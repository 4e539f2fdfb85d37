"""A cheap closed-loop HTTP/1.1 load generator: raw asyncio protocols on uvloop, keep-alive.

The client shares the machine's two cores with the servers it measures, so it does as little as
it can per request: request bytes are built once (a rotating pool of bodies), a response is
read by finding the end of the headers and ``Content-Length`` (chunked bodies are understood
too), and nothing is decoded unless a check asks for it (a sample of responses: the first on
each connection and every ``check_every``-th). Each of ``concurrency`` connections sends its next
request as soon as the previous answer arrives (closed loop), so concurrency = requests in flight.

With ``rate`` set the load is open loop instead: requests are due at a fixed rate (a shared
schedule over the ``concurrency`` connections) and each latency is counted from when its request
was due, not when a free connection sent it, so a slow server cannot hide its queue (no
coordinated omission); a run with too few connections for the rate shows as long latencies.

Bounded: every run stops at ``duration`` seconds or ``max_requests``, whichever comes first, and
every request has a timeout. What the client itself costs is measured, not guessed: the CPU time
of this process during the run, per request (``client_cpu_us``), is reported with the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

__all__ = ["LoadResult", "Target", "build_request", "run_load"]


def build_request(
    host: str,
    port: int,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"{extra}Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass(frozen=True)
class Target:
    """Where to send what: pre-built request bytes rotate across the run."""

    name: str
    host: str
    port: int
    requests: Sequence[bytes]
    """Complete HTTP requests (``build_request``)."""
    check: Callable[[bytes], str | None] | None = None
    """Validates a 200 body: ``None`` when fine, else what is wrong (counted as an error)."""
    items_per_request: int = 1
    """Applications per request (for applications/s of the batch runs)."""


@dataclass
class LoadResult:
    target: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    error_kinds: dict[str, int]
    throughput: float
    items_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    client_cpu_us: float
    """CPU time of the load generator per completed request, in microseconds."""
    checked: int
    server_cpu_us: float | None = None
    """CPU time of the server processes per completed request (set by the caller)."""
    extra: dict[str, float] = field(default_factory=dict)


class _Response(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            parsed = _parse(self.buffer)
        except ValueError as exc:
            self.waiter.set_exception(exc)
            return
        if parsed is not None:
            status, body, used, close = parsed
            del self.buffer[:used]
            if close and self.transport is not None:
                self.transport.close()
            self.waiter.set_result((status, body))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


def _parse(buffer: bytearray) -> tuple[int, bytes, int, bool] | None:
    """(status, body, bytes used, connection closes) of a complete response, or None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {lines[0][:60]!r}")
    status = int(parts[1])
    length = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "content-length":
            length = int(value.strip())
        elif key == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif key == "connection" and value.strip().lower() == "close":
            close = True
    start = end + 4
    if chunked:
        return _parse_chunked(buffer, start, status, close)
    if length is None:
        length = 0
    if len(buffer) < start + length:
        return None
    return status, bytes(buffer[start : start + length]), start + length, close


def _parse_chunked(
    buffer: bytearray, pos: int, status: int, close: bool
) -> tuple[int, bytes, int, bool] | None:
    body = bytearray()
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return status, bytes(body), trailer_end + 2, close
        if len(buffer) < pos + size + 2:
            return None
        body += buffer[pos : pos + size]
        pos += size + 2


@dataclass
class _Tally:
    latencies: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    checked: int = 0
    completed: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class _Schedule:
    """Due times of an open-loop run: request k is due ``k / rate`` seconds after the start."""

    def __init__(self, start: float, rate: float) -> None:
        self.start, self.interval, self.issued = start, 1.0 / rate, 0

    def next_due(self) -> float:
        due = self.start + self.issued * self.interval
        self.issued += 1
        return due


async def _worker(
    target: Target,
    offset: int,
    stride: int,
    tally: _Tally,
    *,
    stop_at: float,
    budget: list[int],
    timeout: float,
    check_every: int,
    schedule: _Schedule | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    conn: _Connection | None = None
    i = offset
    first = True
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            if conn is None or conn.closed:
                try:
                    _, fresh = await asyncio.wait_for(
                        loop.create_connection(_Connection, target.host, target.port), timeout
                    )
                except (OSError, TimeoutError) as exc:
                    tally.error(f"connect: {type(exc).__name__}")
                    conn = None
                    await asyncio.sleep(0.05)
                    continue
                conn = fresh
            request = target.requests[i % len(target.requests)]
            i += stride
            if schedule is not None:
                due = schedule.next_due()
                if due >= stop_at:
                    break
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                started = int(due * 1e9)
            else:
                started = time.perf_counter_ns()
            try:
                status, body = await asyncio.wait_for(conn.send(request), timeout)
            except (TimeoutError, ConnectionError, ValueError) as exc:
                tally.error("timeout" if isinstance(exc, TimeoutError) else type(exc).__name__)
                # The stream is out of step (or gone): never reuse it, the next request reconnects.
                conn.close()
                continue
            elapsed = time.perf_counter_ns() - started
            if status != 200:
                tally.error(f"HTTP {status}")
                continue
            if target.check is not None and (first or tally.completed % check_every == 0):
                first = False
                tally.checked += 1
                problem = target.check(body)
                if problem is not None:
                    tally.error(f"bad answer: {problem}"[:120])
                    continue
            tally.completed += 1
            tally.latencies.append(elapsed)
    finally:
        if conn is not None:
            conn.close()


async def _run(
    target: Target,
    concurrency: int,
    duration: float,
    warmup: float,
    max_requests: int,
    timeout: float,
    check_every: int,
    server_cpu: Callable[[], float],
    rate: float | None = None,
) -> tuple[_Tally, float, float, float]:
    if warmup > 0:
        warm_start = time.perf_counter()
        await asyncio.gather(
            *(
                _worker(
                    target,
                    k,
                    concurrency,
                    _Tally(),
                    stop_at=warm_start + warmup,
                    budget=[max_requests],
                    timeout=timeout,
                    check_every=check_every,
                    schedule=_Schedule(warm_start, rate) if rate else None,
                )
                for k in range(concurrency)
            )
        )
    tally = _Tally()
    cpu0, server0 = _cpu(), server_cpu()
    started = time.perf_counter()
    budget = [max_requests]
    schedule = _Schedule(started, rate) if rate else None
    await asyncio.gather(
        *(
            _worker(
                target,
                k * 7919,
                concurrency,
                tally,
                stop_at=started + duration,
                budget=budget,
                timeout=timeout,
                check_every=check_every,
                schedule=schedule,
            )
            for k in range(concurrency)
        )
    )
    seconds = time.perf_counter() - started
    return tally, seconds, _cpu() - cpu0, server_cpu() - server0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with kserve/uvicorn
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(
    target: Target,
    concurrency: int,
    *,
    duration: float,
    warmup: float = 0.5,
    max_requests: int = 100_000,
    timeout: float = 10.0,
    check_every: int = 50,
    server_cpu: Callable[[], float] | None = None,
    rate: float | None = None,
) -> LoadResult:
    """One bounded run on a fresh uvloop event loop (warm-up not counted): closed loop, or open
    loop at ``rate`` requests per second over ``concurrency`` connections.

    ``server_cpu`` returns the servers' cumulative CPU seconds; read when the measured part
    starts and ends, it gives the servers' CPU per request (``server_cpu_us``).
    """
    loop = _new_loop()
    try:
        tally, seconds, cpu, served = loop.run_until_complete(
            _run(
                target,
                concurrency,
                duration,
                warmup,
                max_requests,
                timeout,
                check_every,
                server_cpu or (lambda: 0.0),
                rate,
            )
        )
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    lat = np.array(tally.latencies, dtype=np.float64) / 1e6
    n = len(lat)
    errors = sum(tally.errors.values())

    def pct(q: float) -> float:
        return round(float(np.percentile(lat, q)), 3) if n else float("nan")

    return LoadResult(
        target=target.name,
        concurrency=concurrency,
        seconds=round(seconds, 3),
        requests=n,
        errors=errors,
        error_kinds=dict(tally.errors),
        throughput=round(n / seconds, 1) if seconds > 0 else 0.0,
        items_per_second=round(n * target.items_per_request / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        mean_ms=round(float(lat.mean()), 3) if n else float("nan"),
        max_ms=round(float(lat.max()), 3) if n else float("nan"),
        client_cpu_us=round(cpu * 1e6 / max(n + errors, 1), 1),
        checked=tally.checked,
        server_cpu_us=round(served * 1e6 / max(n + errors, 1), 1) if server_cpu is not None else None,
    )

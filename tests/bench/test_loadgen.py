"""The load generator against a real (tiny) HTTP server on loopback: counts, errors, parsing.

The server answers by path: a JSON 200 with Content-Length, a chunked 200, a 500, a 200 that
closes the connection, a slow answer (beyond the client's timeout), and a 200 whose body the
check rejects. Every case must be counted as what it is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from bench.loadgen import Target, build_request, run_load
from cli.stack.supervisor import LOCALHOST, free_port

_RESPONSES = {
    "/ok": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}',
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "/fail": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
    "/close": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    "/bad": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwrong",
}


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split(" ")[1]
            length = next(
                int(v) for k, _, v in (ln.partition(":") for ln in lines) if k.lower() == "content-length"
            )
            await reader.readexactly(length)
            if path == "/slow":
                await asyncio.sleep(1.0)
                path = "/ok"
            writer.write(_RESPONSES[path])
            await writer.drain()
            if path == "/close":
                writer.close()
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """The test server on a free loopback port, in its own thread and event loop."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await _handle(reader, writer)
        finally:
            handlers.discard(task)

    async def serve() -> None:
        server = await asyncio.start_server(handle, LOCALHOST, port)
        started.set()
        async with server:
            await stop.wait()
        for task in list(handlers):  # connections still open (e.g. a slow answer nobody waits for)
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "test server did not start"
    yield port
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def _target(port: int, path: str, check: Callable[[bytes], str | None] | None = None) -> Target:
    return Target(path, LOCALHOST, port, [build_request(LOCALHOST, port, path, b'{"x": 1}')], check)


def test_counts_answers_and_measures_latency_and_cpu(http_port: int) -> None:
    result = run_load(
        _target(http_port, "/ok", lambda body: None if body == b'{"ok": true}' else "body"),
        4,
        duration=0.5,
        warmup=0.1,
        max_requests=400,
    )
    assert result.errors == 0, result.error_kinds
    assert result.requests == 400  # bounded by count before the time ran out
    assert result.checked >= 4  # the first answer on each connection at least
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.throughput > 0
    assert result.client_cpu_us > 0


def test_reads_chunked_bodies(http_port: int) -> None:
    bodies: list[bytes] = []
    result = run_load(
        _target(http_port, "/chunked", lambda body: bodies.append(body)),
        2,
        duration=0.3,
        warmup=0.0,
        max_requests=50,
        check_every=1,
    )
    assert result.errors == 0, result.error_kinds
    assert result.requests == 50
    assert set(bodies) == {b"hello world"}


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/fail", "HTTP 500"), ("/bad", "bad answer: wrong body")],
)
def test_counts_failures_as_errors(http_port: int, path: str, kind: str) -> None:
    result = run_load(
        _target(http_port, path, lambda body: None if body.startswith(b"{") else "wrong body"),
        2,
        duration=0.3,
        warmup=0.0,
        max_requests=20,
        check_every=1,
    )
    assert result.requests == 0
    assert result.errors == 20
    assert result.error_kinds == {kind: 20}


def test_reconnects_when_the_server_closes(http_port: int) -> None:
    result = run_load(_target(http_port, "/close"), 2, duration=0.5, warmup=0.0, max_requests=30)
    assert result.errors == 0, result.error_kinds
    assert result.requests == 30


def test_times_out_slow_answers(http_port: int) -> None:
    result = run_load(_target(http_port, "/slow"), 1, duration=0.5, warmup=0.0, max_requests=2, timeout=0.2)
    assert result.requests == 0
    assert result.error_kinds == {"timeout": 2}


def test_counts_refused_connections() -> None:
    port = free_port()  # nothing listens there
    result = run_load(
        Target("refused", LOCALHOST, port, [build_request(LOCALHOST, port, "/", b"{}")]),
        1,
        duration=0.3,
        warmup=0.0,
        max_requests=3,
    )
    assert result.requests == 0
    assert result.error_kinds == {"connect: ConnectionRefusedError": 3}

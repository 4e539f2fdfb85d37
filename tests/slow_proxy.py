"""A TCP proxy on a free loopback port that can hold back replies: a dependency that is slow,
not down (the kernel still accepts, the peer still answers, only late).

``delay`` (seconds, changeable at any time) is slept before each chunk travels from the target
back to the client; requests pass at once. Threads only, so it runs next to any client.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.servers import free_port

__all__ = ["SlowProxy"]


class SlowProxy:
    def __init__(self, target_port: int, delay: float = 0.0, port: int | None = None) -> None:
        """``port``: listen where an earlier, closed proxy listened (the dependency comes back)."""
        self.target_port = target_port
        self.delay = delay
        self.port = port or free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name=f"slow-proxy-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, reply: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if reply and self.delay:
                    self._stop.wait(self.delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        # shutdown first: close() alone leaves the socket listening while the accept thread is
        # blocked in accept() on it (the kernel holds the file until that call returns).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()

    def __enter__(self) -> SlowProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

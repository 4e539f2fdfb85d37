"""Headless Chromium (Debian's package) driven over the DevTools protocol: open a page, read
what it logged, evaluate JavaScript in it. For tests of the HTML reports a person looks at."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers import Process, start_process, wait_for

__all__ = ["Page", "chromium_binary", "open_page"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("chromium is not installed: run `make system-deps` (or `make test`) first")


@dataclass
class Page:
    """One page over a DevTools websocket: ``errors`` collects console errors and exceptions."""

    ws: Any
    errors: list[str] = field(default_factory=list)
    _next: int = 0

    def _send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)
        raise TimeoutError(method)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.errors.append(str(params["exceptionDetails"].get("exception", {}).get("description")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Page.loadEventFired":
            self.loaded = True

    def wait_events(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError):
            while time.monotonic() < deadline:
                self._event(json.loads(self.ws.recv(timeout=max(0.05, deadline - time.monotonic()))))

    def navigate(self, url: str, timeout: float = 60) -> None:
        self.loaded = False
        self._send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self.loaded and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self._event(json.loads(self.ws.recv(timeout=1)))
        if not self.loaded:
            raise TimeoutError(f"{url} did not finish loading in {timeout}s")

    def evaluate(self, expression: str) -> Any:
        result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self._send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


@contextlib.contextmanager
def open_page(log_dir: Path, width: int = 1280, height: int = 2000) -> Iterator[Page]:
    """A fresh headless Chromium (own profile directory) and one page with console capture on."""
    from websockets.sync.client import connect

    profile = Path(tempfile.mkdtemp(prefix="credit-chromium-"))
    process: Process = start_process(
        "chromium",
        [
            chromium_binary(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        log_dir,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        wait_for(process, port_file.exists, timeout=60, what="DevTools port written")
        port = int(port_file.read_text().splitlines()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            p = Page(ws)
            for domain in ("Runtime", "Log", "Page"):
                p._send(f"{domain}.enable")
            yield p
    finally:
        process.stop()
        shutil.rmtree(profile, ignore_errors=True)

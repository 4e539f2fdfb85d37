"""Per-client request budgets of one transformer process: a token bucket per client.

Defence in depth behind the gateway's per-client limit (same numbers, ``docs/reliability.md``):
each client may send ``burst`` requests at once and ``rate`` per second on average; beyond that
the request is refused with 429 and ``Retry-After`` (whole seconds until a token is back).
Buckets of clients idle for a minute are dropped, so the table holds only active clients.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from credit_scoring.errors import RateLimited

__all__ = ["RateLimiter"]

_IDLE_SECONDS = 60.0


@dataclass
class RateLimiter:
    rate: float
    """Requests per second each client may sustain."""
    burst: int
    """Requests a client may send at once (the bucket's size)."""
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, init=False)
    _swept: float = field(default=0.0, init=False)

    def take(self, client: str) -> None:
        """Spend one token of ``client``'s bucket, or raise ``RateLimited``."""
        now = self.clock()
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            raise RateLimited(max(1, math.ceil((1.0 - tokens) / self.rate)))
        self._buckets[client] = (tokens - 1.0, now)
        if now - self._swept > _IDLE_SECONDS:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._swept = now
        idle = [c for c, (_, last) in self._buckets.items() if now - last > _IDLE_SECONDS]
        for client in idle:
            del self._buckets[client]

"""The materialization marker: proof that the Redis online store holds what materialization wrote.

An online store that lost its data (Redis restarted without persistence, a ``FLUSHALL``, a new
empty instance behind the same Service) answers every lookup with "no profile", which serving
would otherwise read as applicants without a credit file. So every successful materialization
writes one small key next to Feast's hashes, and the transformer refuses to score (503, not
ready) while the key is missing or older than its configured maximum age (``transformer.store_watch``).

The key is ``credit_scoring:materialization:<project>`` (Feast's own keys are serialized entity
keys and never start with that text); the value is JSON: the materialized window (``start``,
``end``: the data watermark) and ``materialized_at`` (when the run finished). An emptied store
loses the key together with the profiles, which is exactly what makes it detectable.

Only plain Redis online stores carry the marker (the production profile, the local stack, the
tests); other stores are not checked and the transformer says so at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "MARKER_PREFIX",
    "Marker",
    "RedisAddress",
    "marker_key",
    "read_marker",
    "redis_address",
    "store_redis",
    "write_marker",
]

MARKER_PREFIX = b"credit_scoring:materialization:"


def marker_key(project: str) -> bytes:
    return MARKER_PREFIX + project.encode()


@dataclass(frozen=True)
class Marker:
    """What the last materialization into this store wrote."""

    start: datetime
    end: datetime
    """The materialized window's end: profiles with event times up to here are in the store."""
    materialized_at: datetime
    """When the materialization finished (wall clock of the job)."""

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "materialized_at": self.materialized_at.isoformat(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Marker:
        """Raises ``ValueError`` for anything that is not a marker this module wrote."""
        try:
            data = orjson.loads(raw)
            return cls(
                _aware(datetime.fromisoformat(data["start"])),
                _aware(datetime.fromisoformat(data["end"])),
                _aware(datetime.fromisoformat(data["materialized_at"])),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not a materialization marker: {raw[:80]!r}") from exc

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.materialized_at).total_seconds()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RedisAddress:
    """A plain Redis from Feast's ``connection_string`` (``host:port,key=value,...``)."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    def __str__(self) -> str:  # no credentials: used in logs and error messages
        return f"{self.host}:{self.port}"

    def client(self, timeout: float = 2.0) -> Any:
        """A synchronous redis-py client (jobs and the transformer's periodic check) that fails
        within ``timeout``: redis-py 7 otherwise retries a refused connection for ~9 s."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            retry=Retry(NoBackoff(), 0),
            host=self.host,
            port=self.port,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.ssl,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )


def redis_address(connection_string: str) -> RedisAddress:
    parts = [p.strip() for p in connection_string.split(",") if p.strip()]
    hosts = [p for p in parts if "=" not in p]
    if not hosts:
        raise ValueError(f"online_store.connection_string has no host:port: {connection_string!r}")
    host, _, port = hosts[0].rpartition(":")
    params = dict(p.split("=", 1) for p in parts if "=" in p)
    return RedisAddress(
        host or "localhost",
        int(port or 6379),
        db=int(params.get("db", 0)),
        username=params.get("username") or None,
        password=params.get("password") or None,
        ssl=params.get("ssl", "false").lower() == "true",
    )


def store_redis(store: Any) -> RedisAddress | None:
    """The plain Redis a Feast store's online store is, or None (SQLite, cluster, sentinel)."""
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig, RedisType

    online = store.config.online_store
    if isinstance(online, RedisOnlineStoreConfig) and online.redis_type == RedisType.redis:
        return redis_address(online.connection_string)
    return None


def read_marker(client: Any, project: str) -> Marker | None:
    """The store's marker, None when it is missing (an emptied store). Redis errors propagate."""
    raw = client.get(marker_key(project))
    return None if raw is None else Marker.from_bytes(raw)


def write_marker(client: Any, project: str, marker: Marker, *, only_if_present: bool = False) -> bool:
    """Write the marker; with ``only_if_present`` only refresh one that exists (``SET ... XX``).

    An incremental load into a store that was emptied meanwhile must not vouch for it: it loaded
    only the recent profiles. ``XX`` makes that check and the write one atomic command."""
    return bool(client.set(marker_key(project), marker.to_bytes(), xx=only_if_present))

"""Profiles by one pipelined Redis read, with the keys and hash fields Feast's Redis store writes.

Feast's Redis store keeps one hash per applicant: the key is ``serialize_entity_key`` of the
``applicant_id`` plus the project, the fields ``mmh3("view:feature")`` and ``_ts:view`` (the
event timestamp). This reader sends one ``HMGET`` per applicant in a single write on its own
pooled connection (``transformer.redis_pipeline``) and decodes the stored ``Value`` protos
(memoised per distinct byte string). The key template is checked against Feast's own
``serialize_entity_key`` when the reader is built, and ``tests/transformer/test_online_features.py``
checks every value against Feast's read, so a Feast upgrade that changes the layout or the value
encoding fails loudly instead of serving thin files.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from credit_scoring.features import ENTITY_KEY
from feature_store.marker import redis_address
from transformer.online_features import Profiles, ServiceLayout
from transformer.redis_pipeline import RedisPipeline

__all__ = ["RedisProfileReader"]

_STRING_VALUE = struct.Struct("<II")
_STRING_TYPE = 2  # feast.value_type.ValueType.STRING.value (the key template check below proves it)
_VALUE_CACHE_SIZE = 200_000


def _python_value(proto: Any) -> Any:
    kind = proto.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    return getattr(proto, kind)


class RedisProfileReader:
    kind = "direct"

    def __init__(self, redis: RedisPipeline, config: Any, layout: ServiceLayout) -> None:
        self._redis = redis
        self._config = config
        self._layout = layout
        self.where = f"Redis at {redis.host}:{redis.port}"
        self._fields = self._hash_fields()
        self._key_prefix, self._key_suffix = self._key_template()
        self._values: dict[bytes | None, Any] = {None: None}
        self._marker_key: bytes | None = None

    def read_marker_with(self, key: bytes) -> None:
        self._marker_key = key

    @classmethod
    def from_store(cls, store: Any, layout: ServiceLayout) -> RedisProfileReader:
        return cls(_pipeline(store.config.online_store.connection_string), store.config, layout)

    def _hash_fields(self) -> list[bytes]:
        from feast.infra.online_stores.helpers import _mmh3

        name = self._layout.view_name
        return [*(_mmh3(f"{name}:{f}") for f in self._layout.read), f"_ts:{name}".encode()]

    def _key_template(self) -> tuple[bytes, bytes]:
        """Feast's Redis key for one string join key is ``prefix + <type, len> + id + project``,
        checked here against Feast's own ``serialize_entity_key``."""
        from feast.infra.key_encoding_utils import serialize_entity_key, serialize_entity_key_prefix
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        version = self._config.entity_key_serialization_version
        prefix = serialize_entity_key_prefix([ENTITY_KEY], version)
        suffix = self._config.project.encode("utf-8")
        for probe in ("A1", "probe-applicant-0123456789"):
            feast_key = (
                serialize_entity_key(
                    EntityKey(join_keys=[ENTITY_KEY], entity_values=[Value(string_val=probe)]), version
                )
                + suffix
            )
            if self.key(prefix, suffix, probe) != feast_key:
                raise RuntimeError("Feast's Redis key layout changed: use CREDIT_FEATURE_READ=feast")
        return prefix, suffix

    @staticmethod
    def key(prefix: bytes, suffix: bytes, applicant_id: str) -> bytes:
        raw = applicant_id.encode("utf-8")
        return prefix + _STRING_VALUE.pack(_STRING_TYPE, len(raw)) + raw + suffix

    def _decode_column(self, raws: Sequence[bytes | None]) -> list[Any]:
        """Stored ``Value`` bytes to Python values, memoised: the same bytes always decode to the
        same value, and profiles repeat few distinct values (levels, ages, amounts), so the hot
        path is one C-level dict lookup per value."""
        values = self._values
        try:
            return list(map(values.__getitem__, raws))
        except KeyError:
            from feast.protos.feast.types.Value_pb2 import Value

            if len(values) >= _VALUE_CACHE_SIZE:
                values.clear()
                values[None] = None  # a field Redis does not hold: no bytes at all
            for raw in raws:
                if raw not in values:
                    values[raw] = _python_value(Value.FromString(raw))
            return list(map(values.__getitem__, raws))

    async def read(self, applicant_ids: list[str]) -> Profiles:
        prefix, suffix = self._key_prefix, self._key_suffix
        keys = [self.key(prefix, suffix, i) for i in applicant_ids]
        marker_read, marker = False, None
        if self._marker_key is not None:
            replies, marker = await self._redis.hmget_many_and_get(keys, self._fields, self._marker_key)
            marker_read = True
        else:
            replies = await self._redis.hmget_many(keys, self._fields)
        if not replies:
            return Profiles({name: [] for name in self._layout.read}, [], marker_read, marker)
        *fields, stamps = zip(*replies, strict=True)
        return Profiles(
            values={
                name: self._decode_column(raws) for name, raws in zip(self._layout.read, fields, strict=True)
            },
            # The profile's event timestamp: Feast wrote a profile for this applicant.
            has_profile=[ts is not None for ts in stamps],
            marker_read=marker_read,
            marker=marker,
        )

    async def close(self) -> None:
        await self._redis.close()


def _pipeline(connection_string: str) -> RedisPipeline:
    """Our pipelined reader from Feast's ``connection_string`` (``host:port,key=value,...``)."""
    a = redis_address(connection_string)
    return RedisPipeline(a.host, a.port, db=a.db, username=a.username, password=a.password, ssl=a.ssl)

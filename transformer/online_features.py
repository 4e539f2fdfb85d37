"""Model inputs for a batch of applications: Feast's online store plus Feast's on-demand view.

The feature service (``credit_model_v1``) read from the Feast registry says which profile
features the model uses and which on-demand view derives the ratios; nothing here lists them
again. Two read paths give the same values (``tests/transformer/test_online_features.py``
proves both equal Feast's ``get_online_features``):

- ``direct`` (Redis): one pipelined ``HMGET`` per batch on our own pooled async connection, with
  the keys and hash fields Feast's Redis store writes (``serialize_entity_key`` + project,
  ``mmh3("view:feature")``). Feast's ``get_online_features`` costs ~0.4 ms per call and far more
  per 1,000 rows in registry and response bookkeeping; this path skips that bookkeeping only.
- ``feast``: the online store's own ``online_read`` (any store Feast supports; the embedded SQLite
  store always uses it), off the event loop.

The derived ratios always come from the on-demand view's own UDF from the registry (it calls
``credit_scoring.features.derive``), so serving computes exactly what training saw.

The audit attributes (``age``, ``marital``: ``credit_scoring.features.AUDIT_ONLY_FIELDS``) are
read in the same round trip for the inference log's fairness monitoring; they are never in the
model matrix (``to_matrix`` takes the model features only).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from credit_scoring.errors import FeatureStoreUnavailable
from credit_scoring.features import (
    AUDIT_ONLY_FIELDS,
    CATEGORICAL_LEVELS,
    ENTITY_KEY,
    feature_names,
    to_matrix,
)
from credit_scoring.schema import Application
from transformer.redis_pipeline import RedisPipeline

__all__ = ["FeatureBatch", "OnlineFeatures"]

log = logging.getLogger(__name__)

_STRING_VALUE = struct.Struct("<II")
_STRING_TYPE = 2  # feast.value_type.ValueType.STRING.value (checked against Feast at start-up)
_VALUE_CACHE_SIZE = 200_000


@dataclass(frozen=True)
class FeatureBatch:
    """The model matrix for a batch and what serving needs to know about it."""

    matrix: np.ndarray
    """float32 ``[N, F]`` in ``feature_names()`` order; NaN = missing."""
    found: np.ndarray
    """bool ``[N]``: the applicant has a profile in the online store (False = thin file)."""
    columns: dict[str, Any]
    """Every input by name: levels as text (None = missing), numbers as float64 arrays (NaN = missing)."""


def _python_value(proto: Any) -> Any:
    kind = proto.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    return getattr(proto, kind)


@dataclass(frozen=True)
class _Service:
    """What the feature service asks for, resolved once from the registry."""

    view: Any
    """The profile ``FeatureView``."""
    view_name: str
    profile: list[str]
    odfv: Any
    request_fields: list[str]
    derived: list[str]
    audit: list[str]
    """Audit attributes of the view, read for the log only (never model inputs)."""

    @property
    def read(self) -> list[str]:
        """Every profile field read per applicant: the service's, then the audit attributes."""
        return [*self.profile, *self.audit]


class OnlineFeatures:
    """Looks up and derives the model inputs for whole batches (one store round trip each)."""

    def __init__(self, store: Any, service_name: str, *, read: str = "direct", timeout: float = 1.0) -> None:
        from feast.infra.online_stores.redis import RedisOnlineStoreConfig, RedisType

        self._store = store
        self._timeout = timeout
        self._service = self._resolve(store, service_name)
        self._config = store.config
        online = store.config.online_store
        self._is_redis = isinstance(online, RedisOnlineStoreConfig)
        self.read = (
            "direct"
            if (read == "direct" and self._is_redis and online.redis_type == RedisType.redis)
            else "feast"
        )
        self._redis: RedisPipeline | None = None
        self._fields: list[bytes] = []
        self._values: dict[bytes | None, Any] = {None: None}
        if self.read == "direct":
            self._redis = _redis_pipeline(online.connection_string)
            self.where = f"Redis at {self._redis.host}:{self._redis.port}"
            self._fields = self._hash_fields()
            self._key_prefix, self._key_suffix = self._key_template()
        else:
            self.where = f"{type(online).__name__.removesuffix('OnlineStoreConfig')} online store"
        self._online_store = store._get_provider().online_store if self.read == "feast" else None
        log.info(
            "online features: service %s, %d profile + %d derived features, %s read from %s",
            service_name,
            len(self._service.profile),
            len(self._service.derived),
            self.read,
            self.where,
        )

    @classmethod
    def from_repo(
        cls,
        repo_path: Path | None,
        config_file: Path | None,
        service_name: str,
        *,
        read: str = "direct",
        timeout: float = 1.0,
    ) -> OnlineFeatures:
        """Open the store the way every component does (placeholders filled from the environment)."""
        from feature_store import open_store

        return cls(open_store(config_file, repo_path), service_name, read=read, timeout=timeout)

    # ------------------------------------------------------------------ registry
    @staticmethod
    def _resolve(store: Any, service_name: str) -> _Service:
        service = store.get_feature_service(service_name)
        view = view_name = odfv = None
        profile: list[str] = []
        derived: list[str] = []
        for projection in service.feature_view_projections:
            name = projection.name
            wanted = [f.name for f in projection.features]
            try:
                odfv = store.get_on_demand_feature_view(name)
                derived = wanted
            except Exception:
                view = store.get_feature_view(name)
                view_name, profile = name, wanted
        if view is None or odfv is None:
            raise RuntimeError(
                f"feature service {service_name} must hold one feature view and one on-demand view"
            )
        request_fields = [f.name for source in odfv.source_request_sources.values() for f in source.schema]
        missing = set(feature_names()) - set(profile) - set(derived) - set(request_fields)
        if missing:
            raise RuntimeError(f"feature service {service_name} lacks model features {sorted(missing)}")
        audit = sorted(f.name for f in view.features if f.name in AUDIT_ONLY_FIELDS and f.name not in profile)
        return _Service(view, str(view_name), profile, odfv, request_fields, derived, audit)

    @property
    def profile_features(self) -> list[str]:
        return list(self._service.profile)

    # ------------------------------------------------------------------ lookup
    async def lookup(self, applications: Sequence[Application]) -> FeatureBatch:
        ids = [a.applicant_id for a in applications]
        try:
            profile, found = await asyncio.wait_for(self._read(ids), self._timeout)
        except TimeoutError as exc:
            raise FeatureStoreUnavailable(
                f"online feature store ({self.where}) did not answer within {self._timeout:g}s"
            ) from exc
        except (OSError, sqlite3.Error, _redis_errors()) as exc:
            raise FeatureStoreUnavailable(
                f"online feature store ({self.where}) is unavailable: {type(exc).__name__}"
            ) from exc
        return self._assemble(applications, profile, found)

    async def _read(self, ids: list[str]) -> tuple[dict[str, list[Any]], list[bool]]:
        """Profile values by feature (None = missing) and whether each applicant was found."""
        if self.read == "direct":
            return await self._read_direct(ids)
        return await asyncio.to_thread(self._read_feast, ids)

    def _hash_fields(self) -> list[bytes]:
        from feast.infra.online_stores.helpers import _mmh3

        name = self._service.view_name
        return [*(_mmh3(f"{name}:{f}") for f in self._service.read), f"_ts:{name}".encode()]

    def _key_template(self) -> tuple[bytes, bytes]:
        """Feast's Redis key for one string join key is ``prefix + <type, len> + id + project``.

        ``serialize_entity_key_prefix`` gives the prefix; the value part is how Feast writes a
        string value. The template is checked against Feast's own ``serialize_entity_key`` here,
        so a Feast upgrade that changes the layout fails at start-up, not with silent thin files.
        """
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
            if self._fast_key(prefix, suffix, probe) != feast_key:
                raise RuntimeError("Feast's Redis key layout changed: use CREDIT_FEATURE_READ=feast")
        return prefix, suffix

    @staticmethod
    def _fast_key(prefix: bytes, suffix: bytes, applicant_id: str) -> bytes:
        raw = applicant_id.encode("utf-8")
        return prefix + _STRING_VALUE.pack(_STRING_TYPE, len(raw)) + raw + suffix

    def _decode_column(self, raws: Sequence[bytes | None]) -> list[Any]:
        """Feast's stored ``Value`` bytes to Python values, memoised: the same bytes always decode
        to the same value, and profiles repeat few distinct values (levels, ages, amounts), so
        the hot path is one C-level dict lookup per value."""
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

    async def _read_direct(self, ids: list[str]) -> tuple[dict[str, list[Any]], list[bool]]:
        assert self._redis is not None
        prefix, suffix = self._key_prefix, self._key_suffix
        keys = [self._fast_key(prefix, suffix, i) for i in ids]
        replies = await self._redis.hmget_many(keys, self._fields)
        *fields, stamps = zip(*replies, strict=True)
        # No event timestamp: Feast never wrote this applicant (all its fields are absent too).
        found = [ts is not None for ts in stamps]
        return {
            name: self._decode_column(raws) for name, raws in zip(self._service.read, fields, strict=True)
        }, found

    def _read_feast(self, ids: list[str]) -> tuple[dict[str, list[Any]], list[bool]]:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        keys = [EntityKey(join_keys=[ENTITY_KEY], entity_values=[Value(string_val=i)]) for i in ids]
        assert self._online_store is not None
        rows = self._online_store.online_read(self._config, self._service.view, keys, self._service.read)
        found = [
            ts is not None and bool(values) and any(v.WhichOneof("val") is not None for v in values.values())
            for ts, values in rows
        ]
        columns = {
            name: [
                _python_value(values[name]) if ok and values and name in values else None
                for ok, (_, values) in zip(found, rows, strict=True)
            ]
            for name in self._service.read
        }
        return columns, found

    # ------------------------------------------------------------------ derive
    def _assemble(
        self, applications: Sequence[Application], profile: dict[str, list[Any]], found: list[bool]
    ) -> FeatureBatch:
        n = len(applications)
        columns: dict[str, Any] = {}
        for name, values in profile.items():
            # Numbers as float64 arrays (None becomes NaN, "missing" for the model); levels as text.
            columns[name] = values if name in CATEGORICAL_LEVELS else np.array(values, dtype=np.float64)
        for name in self._service.request_fields:
            columns[name] = np.array([getattr(a, name) for a in applications], dtype=np.float64)
        columns.update(self._derive(columns))
        return FeatureBatch(to_matrix(columns, n), np.array(found, dtype=bool), columns)

    def _derive(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run the on-demand view's own transformation, as Feast does for online requests."""
        odfv = self._service.odfv
        if odfv.mode == "pandas":
            import pandas as pd

            result = odfv.feature_transformation.transform(pd.DataFrame(columns))
            return {name: result[name].to_numpy(dtype=np.float64) for name in self._service.derived}
        result = odfv.transform_dict(columns)
        return {name: np.asarray(result[name], dtype=np.float64) for name in self._service.derived}

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()


def _redis_errors() -> type[Exception]:
    from redis.exceptions import RedisError

    return RedisError


def _redis_pipeline(connection_string: str) -> RedisPipeline:
    """Our pipelined reader from Feast's ``connection_string`` (``host:port,key=value,...``)."""
    parts = [p.strip() for p in connection_string.split(",") if p.strip()]
    hosts = [p for p in parts if "=" not in p]
    if not hosts:
        raise RuntimeError(f"online_store.connection_string has no host:port: {connection_string!r}")
    host, _, port = hosts[0].rpartition(":")
    params = dict(p.split("=", 1) for p in parts if "=" in p)
    return RedisPipeline(
        host or "localhost",
        int(port or 6379),
        db=int(params.get("db", 0)),
        username=params.get("username") or None,
        password=params.get("password") or None,
        ssl=params.get("ssl", "false").lower() == "true",
    )

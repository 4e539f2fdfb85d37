"""Model inputs for a batch of applications: the online store's profiles plus Feast's on-demand view.

The feature service (``credit_model_v1``) read from the Feast registry says which profile
features the model uses and which on-demand view derives the ratios; nothing here lists them
again. The profiles come from one ``ProfileReader``, of two kinds that give the same answer
(``tests/transformer/test_online_features.py`` reads the same applicants both ways from a real
Redis):

- ``direct`` (``transformer.redis_read``, the default on Redis): one pipelined ``HMGET`` per batch
  with the keys and hash fields Feast's Redis store writes;
- ``feast`` (``transformer.feast_read``): Feast's own ``get_online_features_async`` (any store
  Feast supports; the embedded SQLite store always uses it).

``make bench`` times both (the floor stage); the direct read is ~15x cheaper for 1,000
applicants, which is why it is the default (numbers in ``docs/serving.md``).

Either way the ratios come from the on-demand view's own UDF taken from the registry (it calls
``credit_scoring.features.derive``), so serving computes exactly what training saw, and an
applicant is a thin file exactly when the reader reports no profile (``credit_scoring.policy``).

The audit attributes (``age``, ``marital``: ``credit_scoring.features.AUDIT_ONLY_FIELDS``) are
read in the same round trip for the inference log's fairness monitoring; they are never in the
model matrix (``to_matrix`` takes the model features only).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from credit_scoring.errors import FeatureStoreUnavailable
from credit_scoring.features import AUDIT_ONLY_FIELDS, CATEGORICAL_LEVELS, feature_names, to_matrix
from credit_scoring.schema import Application

if TYPE_CHECKING:
    from transformer.store_watch import OnlineStoreWatch

__all__ = ["FeatureBatch", "OnlineFeatures", "ProfileReader", "Profiles", "ServiceLayout"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureBatch:
    """The model matrix for a batch and what serving needs to know about it."""

    matrix: np.ndarray
    """float32 ``[N, F]`` in ``feature_names()`` order; NaN = missing."""
    has_profile: np.ndarray
    """bool ``[N]``: the online store holds a profile for the applicant (False: a thin file)."""
    columns: dict[str, Any]
    """Every input by name: levels as text (None = missing), numbers as float64 arrays (NaN = missing)."""


@dataclass(frozen=True)
class Profiles:
    """What a reader found: values by profile feature (None = missing), and who has a profile."""

    values: dict[str, list[Any]]
    has_profile: list[bool]
    marker_read: bool = False
    """The reader read the materialization marker with the profiles (``marker`` is its value)."""
    marker: bytes | None = None


@dataclass(frozen=True)
class ServiceLayout:
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

    @classmethod
    def resolve(cls, store: Any, service_name: str) -> ServiceLayout:
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
        return cls(view, str(view_name), profile, odfv, request_fields, derived, audit)


class ProfileReader(Protocol):
    """One way to read applicants' profiles from the online store."""

    kind: str
    where: str
    """Where it reads from, for logs and error messages (no credentials)."""

    async def read(self, applicant_ids: list[str]) -> Profiles: ...

    def read_marker_with(self, key: bytes) -> None:
        """Read ``key`` (the materialization marker) with every batch when the reader can do it
        in the same round trip; readers that cannot ignore this."""

    async def close(self) -> None: ...


def make_reader(store: Any, layout: ServiceLayout, read: str) -> ProfileReader:
    """The direct Redis read when asked for and the store is a plain Redis, else Feast's own."""
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig, RedisType

    online = store.config.online_store
    if (
        read == "direct"
        and isinstance(online, RedisOnlineStoreConfig)
        and online.redis_type == RedisType.redis
    ):
        from transformer.redis_read import RedisProfileReader

        return RedisProfileReader.from_store(store, layout)
    from transformer.feast_read import FeastProfileReader

    return FeastProfileReader(store, layout)


class OnlineFeatures:
    """Looks up and derives the model inputs for whole batches (one store round trip each)."""

    def __init__(
        self,
        store: Any,
        service_name: str,
        *,
        read: str = "direct",
        timeout: float = 1.0,
        watch: OnlineStoreWatch | None = None,
    ) -> None:
        from feature_store.marker import store_redis
        from transformer.store_watch import OnlineStoreWatch

        self._timeout = timeout
        self._layout = ServiceLayout.resolve(store, service_name)
        self._udf = _batch_udf(self._layout.odfv)
        self.reader = make_reader(store, self._layout, read)
        # Trust in the store: the materialization marker (transformer.store_watch).
        self.watch = watch or OnlineStoreWatch(store_redis(store), store.project)
        if self.watch.enabled:
            self.reader.read_marker_with(self.watch.key)
        self.read = self.reader.kind
        self.where = self.reader.where
        log.info(
            "online features: service %s, %d profile + %d derived features, %s read from %s",
            service_name,
            len(self._layout.profile),
            len(self._layout.derived),
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
        max_age_seconds: float | None = None,
        check_seconds: float = 5.0,
    ) -> OnlineFeatures:
        """Open the store the way every component does (placeholders filled from the environment)."""
        from feature_store import open_store
        from feature_store.marker import store_redis
        from transformer.store_watch import OnlineStoreWatch

        store = open_store(config_file, repo_path)
        watch = OnlineStoreWatch(
            store_redis(store),
            store.project,
            max_age_seconds=max_age_seconds,
            check_seconds=check_seconds,
            client_timeout=timeout,
        )
        return cls(store, service_name, read=read, timeout=timeout, watch=watch)

    @property
    def profile_features(self) -> list[str]:
        return list(self._layout.profile)

    async def lookup(self, applications: Sequence[Application]) -> FeatureBatch:
        ids = [a.applicant_id for a in applications]
        self.watch.require()  # an untrusted store answers 503 without a read
        try:
            # asyncio.timeout, not wait_for: no task of its own per read (Python 3.11).
            async with asyncio.timeout(self._timeout):
                profiles = await self.reader.read(ids)
        except TimeoutError as exc:
            raise FeatureStoreUnavailable(
                f"online feature store ({self.where}) did not answer within {self._timeout:g}s"
            ) from exc
        except (OSError, sqlite3.Error, _redis_errors()) as exc:
            raise FeatureStoreUnavailable(
                f"online feature store ({self.where}) is unavailable: {type(exc).__name__}"
            ) from exc
        if profiles.marker_read:
            self.watch.observe(profiles.marker)  # an emptied store is caught on this very batch
        return self._assemble(applications, profiles)

    def _assemble(self, applications: Sequence[Application], profiles: Profiles) -> FeatureBatch:
        n = len(applications)
        columns: dict[str, Any] = {}
        for name, values in profiles.values.items():
            # Numbers as float64 arrays (None becomes NaN, "missing" for the model); levels as text.
            columns[name] = values if name in CATEGORICAL_LEVELS else np.array(values, dtype=np.float64)
        for name in self._layout.request_fields:
            columns[name] = np.array([getattr(a, name) for a in applications], dtype=np.float64)
        columns.update(self._derive(columns))
        return FeatureBatch(to_matrix(columns, n), np.array(profiles.has_profile, dtype=bool), columns)

    def _derive(self, columns: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run the on-demand view's own transformation, as Feast does for online requests."""
        odfv = self._layout.odfv
        if odfv.mode == "pandas":
            import pandas as pd

            result = odfv.feature_transformation.transform(pd.DataFrame(columns))
            return {name: result[name].to_numpy(dtype=np.float64) for name in self._layout.derived}
        udf = self._udf
        # A batch Python view: its UDF on the columns, what ``transform_dict`` ends up calling
        # (its other work is for full feature-view names we never use, and typeguard checks of
        # every call, which cost more than the ratios themselves).
        result = udf(columns) if udf is not None else odfv.transform_dict(columns)
        return {name: np.asarray(result[name], dtype=np.float64) for name in self._layout.derived}

    async def close(self) -> None:
        self.watch.stop()
        await self.reader.close()


def _batch_udf(odfv: Any) -> Any:
    """The view's Python UDF when the view is a batch (not singleton) Python transformation, else
    None (``OnlineFeatures._derive`` then goes through Feast's ``transform_dict``)."""
    from feast.transformation.python_transformation import PythonTransformation

    transformation = odfv.feature_transformation
    if odfv.mode == "python" and not odfv.singleton and isinstance(transformation, PythonTransformation):
        return transformation.udf
    return None


def _redis_errors() -> type[Exception]:
    from redis.exceptions import RedisError

    return RedisError

"""Profiles through Feast's own online read (``FeatureStore.get_online_features_async``).

Works with any online store Feast supports (Redis cluster and sentinel included). Stores without
an async read (the embedded SQLite store) are read with Feast's ``get_online_features`` in a
worker thread. Only the profile view's features are asked for: the on-demand ratios are derived
by ``transformer.online_features`` the same way whichever reader ran.

Feast's read goes through its registry cache: the first read loads it (about a second on the
embedded store, measured), so the reader reads once when it is built; afterwards Feast refreshes
the cache on the request path whenever ``cache_ttl_seconds`` (60 in both profiles) has passed.
The direct reader (``transformer.redis_read``) never touches the registry after start-up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from credit_scoring.features import ENTITY_KEY
from transformer.online_features import Profiles, ServiceLayout

__all__ = ["FeastProfileReader"]

log = logging.getLogger(__name__)


class FeastProfileReader:
    kind = "feast"

    def __init__(self, store: Any, layout: ServiceLayout) -> None:
        self._store = store
        self._layout = layout
        self._refs = [f"{layout.view_name}:{name}" for name in layout.read]
        self._async = True
        online = store.config.online_store
        self.where = f"{type(online).__name__.removesuffix('OnlineStoreConfig')} online store"
        self._warm_up()

    def _warm_up(self) -> None:
        """One read at start-up, so the first request does not pay for Feast's registry load. A
        store that is down now is not fatal: requests answer 503 until it is back."""
        try:
            self._store.get_online_features(features=self._refs, entity_rows=[{ENTITY_KEY: "warm-up"}])
        except Exception as exc:  # whatever the store raises; requests report it properly
            log.warning("online store not readable at start-up (%s): %s", type(exc).__name__, exc)

    async def read(self, applicant_ids: list[str]) -> Profiles:
        rows = [{ENTITY_KEY: i} for i in applicant_ids]
        response: Any = None
        if self._async:
            try:
                response = await self._store.get_online_features_async(features=self._refs, entity_rows=rows)
            except NotImplementedError:
                self._async = False  # this store has no async read: Feast's sync read, off the loop
        if response is None:
            response = await asyncio.to_thread(
                self._store.get_online_features, features=self._refs, entity_rows=rows
            )
        answer = response.to_dict(include_event_timestamps=True)
        profile = self._layout.profile
        # Feast reports the profile row's event timestamp on every feature of the view; 0 when the
        # store holds no row for the applicant.
        stamps = answer[f"{profile[0]}__ts"]
        return Profiles(
            values={name: answer[name] for name in self._layout.read},
            has_profile=[bool(ts) for ts in stamps],
        )

    def read_marker_with(self, key: bytes) -> None:
        """Feast's read cannot carry the marker: the background check alone watches it."""

    async def close(self) -> None:
        return None

"""``feast apply`` and ``materialize`` for the credit feature repo, as library calls.

The CLI, the training job and the tests use these instead of shelling out to ``feast``: they
open the store through :mod:`feature_store` (placeholders checked) and point the
repo's offline source at an explicit data folder.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from training.data import APPLICATIONS_START, DATA_AS_OF

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_contents import RepoContents

__all__ = ["ApplyResult", "apply", "load_definitions", "materialize", "materialize_incremental"]


@dataclass(frozen=True)
class ApplyResult:
    project: str
    entities: list[str]
    feature_views: list[str]
    on_demand_feature_views: list[str]
    feature_services: list[str]


@contextlib.contextmanager
def _data_dir_env(data_dir: Path) -> Iterator[None]:
    # The repo's declarations read CREDIT_DATA_DIR when evaluated (that is how `feast apply`
    # parameterises them too); restore the caller's environment afterwards.
    previous = os.environ.get("CREDIT_DATA_DIR")
    os.environ["CREDIT_DATA_DIR"] = str(Path(data_dir).resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CREDIT_DATA_DIR", None)
        else:
            os.environ["CREDIT_DATA_DIR"] = previous


def load_definitions(repo_path: Path, data_dir: Path) -> RepoContents:
    """Evaluate every ``*.py`` in the repo afresh (not from ``sys.modules``, so each call sees
    ``data_dir``) and collect the Feast objects, like ``feast apply`` does."""
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.repo_contents import RepoContents

    contents = RepoContents(
        projects=[],
        data_sources=[],
        entities=[],
        feature_views=[],
        feature_services=[],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        permissions=[],
    )
    buckets: list[tuple[type, list[object]]] = [
        (OnDemandFeatureView, contents.on_demand_feature_views),  # type: ignore[list-item]  # Feast's lists are invariant
        (FeatureView, contents.feature_views),  # type: ignore[list-item]
        (FeatureService, contents.feature_services),  # type: ignore[list-item]
        (Entity, contents.entities),  # type: ignore[list-item]
        (DataSource, contents.data_sources),  # type: ignore[list-item]
    ]
    with _data_dir_env(data_dir):
        for path in sorted(Path(repo_path).glob("*.py")):
            if path.name.startswith("_"):
                continue
            namespace = runpy.run_path(str(path), run_name=f"feature_repo_{path.stem}")
            for obj in namespace.values():
                for kind, bucket in buckets:
                    if isinstance(obj, kind) and not any(obj is seen for seen in bucket):
                        bucket.append(obj)
                        break
    for fv in contents.feature_views:
        if fv.batch_source is not None and not any(fv.batch_source is s for s in contents.data_sources):
            contents.data_sources.append(fv.batch_source)
    return contents


def apply(store: FeatureStore, data_dir: Path) -> ApplyResult:
    """Register the repo's objects (and remove ones no longer declared), like ``feast apply``."""
    from feast.repo_operations import extract_objects_for_apply_delete

    contents = load_definitions(Path(store.repo_path), data_dir)
    registry = store.registry
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(store.project, registry, contents)
    with warnings.catch_warnings():
        # Feast warns on every apply that on-demand views are "experimental"; we rely on them
        # deliberately (serving computes the ratios with the same UDF), so keep output readable.
        warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
        store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    return ApplyResult(
        project=store.project,
        entities=[e.name for e in contents.entities],
        feature_views=[v.name for v in contents.feature_views],
        on_demand_feature_views=[v.name for v in contents.on_demand_feature_views],
        feature_services=[s.name for s in contents.feature_services],
    )


def materialize(
    store: FeatureStore, start: datetime | None = None, end: datetime | None = None
) -> tuple[datetime, datetime]:
    """Load the latest profile per applicant into the online store, then write the
    materialization marker (``feature_store.marker``) that tells serving the store is whole.

    The default window covers the whole prepared extract (stale versions included), so the
    online store ends up with each applicant's newest profile.
    """
    start = start or (APPLICATIONS_START - timedelta(days=1000))
    end = end or (DATA_AS_OF + timedelta(days=1))
    store.materialize(start_date=start, end_date=end)
    _mark(store, start, end, only_if_present=False)
    return start, end


def materialize_incremental(
    store: FeatureStore, end: datetime | None = None
) -> tuple[datetime, datetime, bool]:
    """Feast's incremental load up to ``end`` (default now); ``(start, end, full)``.

    An incremental load only brings profiles changed since the last run, so into a store that
    lost its data (no marker) it would vouch for a store missing most applicants: then this
    runs the full backfill instead (``full`` True), which is also how an emptied store recovers
    on the CronJob's next run.
    """
    from feature_store.marker import read_marker, store_redis

    end = end or datetime.now(UTC)
    address = store_redis(store)
    previous = None
    if address is not None:
        with address.client() as client:
            previous = read_marker(client, store.project)
        if previous is None:
            start, end = materialize(store, end=max(end, DATA_AS_OF + timedelta(days=1)))
            return start, end, True
    store.materialize_incremental(end_date=end)
    start = previous.start if previous is not None else APPLICATIONS_START - timedelta(days=1000)
    _mark(store, start, end, only_if_present=True)
    return start, end, False


def _mark(store: FeatureStore, start: datetime, end: datetime, *, only_if_present: bool) -> None:
    from feature_store.marker import Marker, store_redis, write_marker

    address = store_redis(store)
    if address is None:
        return  # only plain Redis stores carry the marker (feature_store.marker)
    marker = Marker(_utc(start), _utc(end), datetime.now(UTC))
    with address.client() as client:
        if not write_marker(client, store.project, marker, only_if_present=only_if_present):
            raise RuntimeError(
                f"the online store at {address} lost its materialization marker during an "
                "incremental load: run a full `credit-scoring features materialize`"
            )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

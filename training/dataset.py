"""The training set: point-in-time features from Feast, split out of time.

Each application is joined with the profile version that was current at its
``application_timestamp`` (``get_historical_features``), never a later one, and the on-demand
ratios are computed by the feature view's own UDF. The split is by application time: the model
is fitted on the oldest applications, early-stopped and calibrated into a policy on the next
ones, and judged on the most recent ones, as it will be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from credit_scoring.features import (
    AUDIT_ONLY_FIELDS,
    ENTITY_KEY,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    LABEL,
    PROFILE_FIELDS,
    Kind,
    derive,
    feature_names,
    to_matrix,
)

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["TIME_COLUMN", "Split", "feature_refs", "split_out_of_time", "training_frame"]

TIME_COLUMN = "application_timestamp"
_ENTITY_COLUMNS = [ENTITY_KEY, "application_id", TIME_COLUMN, "amount", "price", "term", LABEL]
_DERIVE_INPUTS = ("amount", "price", "term", "income", "expenses", "assets", "debt")


def feature_refs(store: FeatureStore, service_name: str = FEATURE_SERVICE) -> list[str]:
    """The registered feature service's references, plus the audit-only profile fields.

    The service is read back from the registry, so training uses exactly what was applied.
    """
    service = store.get_feature_service(service_name)
    refs = [
        f"{proj.name_to_use()}:{f.name}" for proj in service.feature_view_projections for f in proj.features
    ]
    refs += [f"{FEATURE_VIEW}:{name}" for name in sorted(AUDIT_ONLY_FIELDS)]
    return refs


def training_frame(store: FeatureStore, applications: pd.DataFrame) -> pd.DataFrame:
    """One row per application with its point-in-time features, ordered by application time."""
    entity_df = applications[_ENTITY_COLUMNS].rename(columns={TIME_COLUMN: "event_timestamp"})
    job = store.get_historical_features(entity_df=entity_df, features=feature_refs(store))
    frame = job.to_df().rename(columns={"event_timestamp": TIME_COLUMN})
    frame = _keep_thin_files(applications[_ENTITY_COLUMNS], frame)
    # Feast returns rows in its own order: restore a deterministic one (time, then id).
    frame = frame.sort_values([TIME_COLUMN, "application_id"], kind="stable").reset_index(drop=True)
    missing = sorted(set(feature_names()) - set(frame.columns))
    if missing:
        raise RuntimeError(f"the feature service does not provide model features {missing}")
    return frame


def _keep_thin_files(applications: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Put back applications Feast's file offline store dropped.

    Feast 0.67's file (dask) offline store drops an entity row entirely when no profile version
    lies within the view's ttl, where serving would see a thin file (missing profile). Such
    rows are kept here with a missing profile and the ratios the contract can still derive
    from the application alone, exactly what the online path computes for an unknown applicant.
    """
    lost = applications[~applications["application_id"].isin(frame["application_id"])]
    if lost.empty:
        return frame
    thin = lost.copy()
    for feature in PROFILE_FIELDS:
        thin[feature.name] = np.nan if feature.kind is not Kind.CATEGORY else None
    for name, values in derive({c: thin[c].to_numpy(dtype=np.float64) for c in _DERIVE_INPUTS}).items():
        thin[name] = values
    return pd.concat([frame, thin[frame.columns]], ignore_index=True)


@dataclass(frozen=True)
class Split:
    """Train / validation / test frames (out of time) and the boundaries between them."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    valid_start: pd.Timestamp
    test_start: pd.Timestamp

    @staticmethod
    def matrix(frame: pd.DataFrame) -> np.ndarray:
        return to_matrix({name: frame[name].to_numpy() for name in frame.columns}, len(frame))

    @staticmethod
    def labels(frame: pd.DataFrame) -> np.ndarray:
        return frame[LABEL].to_numpy(dtype=np.float32)


def split_out_of_time(frame: pd.DataFrame, valid_share: float = 0.2, test_share: float = 0.2) -> Split:
    """Cut at application-time quantiles: oldest for training, then validation, newest for test."""
    times = frame[TIME_COLUMN]
    valid_start = times.quantile(1.0 - valid_share - test_share)
    test_start = times.quantile(1.0 - test_share)
    train = frame[times < valid_start]
    valid = frame[(times >= valid_start) & (times < test_start)]
    test = frame[times >= test_start]
    return Split(
        train.reset_index(drop=True),
        valid.reset_index(drop=True),
        test.reset_index(drop=True),
        pd.Timestamp(valid_start),
        pd.Timestamp(test_start),
    )

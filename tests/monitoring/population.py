"""Traffic for the drift tests, built through the shared contract from the training data.

Each application of the prepared data (``credit_env``) is joined with the profile version that
was current when it was made (point in time, as Feast does for training), turned into the
booster's input exactly as serving builds it (``credit_scoring.features``: level codes,
``derive``, ``to_matrix``), scored by the registered booster and decided by its policy. That
is the population the model was developed on; ``shifted`` moves it the way the issue asks.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.audit import age_bands, marital_status
from credit_scoring.features import APPLICATION_FIELDS, PROFILE_FIELDS, derive, to_matrix
from credit_scoring.policy import ScorePolicy
from inference_log import ApplicantHasher, InferenceRecord, Role, records_from_batch

RAW_FIELDS = [f.name for f in (*PROFILE_FIELDS, *APPLICATION_FIELDS)]
_DERIVE_INPUTS = ("amount", "price", "term", "income", "expenses", "assets", "debt")


def applications_at_time(profile: pd.DataFrame, applications: pd.DataFrame) -> pd.DataFrame:
    """Every application with the applicant's profile as known at application time."""
    apps = applications.sort_values("application_timestamp").copy()
    prof = profile.sort_values("event_timestamp").copy()
    apps["application_timestamp"] = pd.to_datetime(apps["application_timestamp"], utc=True)
    prof["event_timestamp"] = pd.to_datetime(prof["event_timestamp"], utc=True)
    rows = pd.merge_asof(
        apps,
        prof,
        left_on="application_timestamp",
        right_on="event_timestamp",
        by="applicant_id",
        direction="backward",
    )
    return rows[["applicant_id", "application_id", "default", *RAW_FIELDS]].reset_index(drop=True)


def model_matrix(raw: pd.DataFrame) -> np.ndarray:
    """The booster's input for raw rows: what the transformer builds from Feast and the request."""
    columns: dict[str, Any] = {name: raw[name].tolist() for name in RAW_FIELDS}
    columns.update(derive({k: raw[k].to_numpy(dtype=np.float64) for k in _DERIVE_INPUTS}))
    return to_matrix(columns, len(raw))


def shifted(raw: pd.DataFrame, income: float = 0.6, amount: float = 1.5) -> pd.DataFrame:
    """Incomes x0.6, loan amounts x1.5 (capped at the goods price: the API refuses LTV above 1,
    so such applications never reach the log)."""
    out = raw.copy()
    out["income"] = out["income"] * income
    out["amount"] = np.minimum(out["amount"] * amount, out["price"])
    return out


def depends_on(inputs: set[str]) -> set[str]:
    """Derived features whose value changes when any of ``inputs`` changes (asking ``derive``)."""
    base = {k: np.array([1000.0, 1500.0, 2000.0]) for k in _DERIVE_INPUTS}
    base["term"] = np.array([24.0, 36.0, 48.0])
    before = derive(base)
    found: set[str] = set()
    for name in inputs:
        after = derive({k: v * (1.7 if k == name else 1.0) for k, v in base.items()})
        found |= {f for f in before if not np.allclose(before[f], after[f], equal_nan=True)}
    return found


def traffic_records(
    raw: pd.DataFrame,
    n: int,
    *,
    booster: Any,
    policy: ScorePolicy,
    model_name: str,
    model_version: str,
    hasher: ApplicantHasher,
    start: datetime,
    end: datetime,
    seed: int,
    role: Role = Role.CHAMPION,
    per_request: int = 10,
    request_ids: list[str] | None = None,
    with_ids: bool = False,
) -> list[InferenceRecord]:
    """``n`` applications drawn from ``raw``, scored and decided, as records over [start, end),
    with the audit attributes (age band, marital status) the transformer logs.

    ``request_ids`` reuses the request ids of an earlier call (shadow scoring of the same rows);
    ``with_ids`` logs each application's ``application_id`` (to match outcomes).
    """
    from training.model import predict_pd

    rng = np.random.default_rng(seed)
    sample = raw.iloc[rng.integers(0, len(raw), n)].reset_index(drop=True)
    matrix = model_matrix(sample)
    pd_ = predict_pd(booster, matrix)
    score = np.asarray(policy.scale.score(pd_))
    decisions = [d.value for d in policy.decide(score)]
    bands = policy.band(score)
    span = (end - start).total_seconds()
    records: list[InferenceRecord] = []
    for k, first in enumerate(range(0, n, per_request)):
        rows = slice(first, min(first + per_request, n))
        records += records_from_batch(
            request_id=request_ids[k] if request_ids else uuid.uuid4().hex,
            applicant_ids=sample["applicant_id"].iloc[rows].tolist(),
            hasher=hasher,
            matrix=matrix[rows],
            pd=pd_[rows],
            score=score[rows],
            decisions=decisions[rows],
            risk_bands=bands[rows],
            reason_codes=[[] if d == "approve" else ["R15"] for d in decisions[rows]],
            thin_file=[False] * (rows.stop - rows.start),
            model_name=model_name,
            model_version=model_version,
            model_alias=role.value,
            role=role,
            latency_ms=5.0,
            logged_at=start + timedelta(seconds=span * (first + 0.5) / n),
            application_ids=sample["application_id"].iloc[rows].tolist() if with_ids else None,
            age_bands=age_bands(sample["age"].iloc[rows].tolist()),
            marital=[marital_status(v) for v in sample["marital"].iloc[rows].tolist()],
        )
    return records


def request_ids_of(records: list[InferenceRecord]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        seen.setdefault(r.request_id, None)
    return list(seen)

"""Inference-log records for the tests: one builder of a scored request with random features,
as columns (``RecordBatch``, what the transformer submits) or as records (``.records()``), and the
fixtures over it. The inference-log and monitoring conftests both import these."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import numpy as np
import pytest

from credit_scoring.features import feature_names
from inference_log import ApplicantHasher, InferenceRecord, RecordBatch, Role


def scored_batch(
    hasher: ApplicantHasher,
    n: int,
    *,
    seed: int = 0,
    role: Role = Role.CHAMPION,
    model_version: str = "1",
    request_id: str | None = None,
    thin_share: float = 0.0,
    audit: bool = False,
) -> RecordBatch:
    """One scored request of ``n`` applicants: random features (5 % missing), random PDs, declines
    above PD 0.3 with reasons. ``thin_share`` of the rows are thin-file; ``audit`` adds the lender's
    application ids (some requests carry none) and the audit attributes (age band, marital)."""
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(0, 1000, size=(n, len(feature_names()))).astype(np.float32)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    pd_ = rng.uniform(0, 1, n)
    audited = (
        {
            "application_ids": [f"L{seed}-{i}" if i % 4 else None for i in range(n)],
            "age_bands": [["18-24", "62+", None][i % 3] for i in range(n)],
            "marital": [["single", None][i % 2] for i in range(n)],
        }
        if audit
        else {}
    )
    return RecordBatch.from_scored(
        request_id=request_id or uuid.uuid4().hex,
        applicant_ids=[f"app-{i}" for i in range(n)],
        hasher=hasher,
        matrix=matrix,
        pd=pd_,
        score=600 - 100 * pd_,
        decisions=["approve" if p < 0.3 else "decline" for p in pd_],
        risk_bands=["A" if p < 0.3 else "E" for p in pd_],
        reason_codes=[[] if p < 0.3 else ["R07", "R16"] for p in pd_],
        thin_file=rng.random(n) < thin_share,
        model_name="credit-risk",
        model_version=model_version,
        model_alias="champion" if role is Role.CHAMPION else "challenger",
        role=role,
        latency_ms=4.2,
        **audited,
    )


@pytest.fixture
def hasher() -> ApplicantHasher:
    return ApplicantHasher(b"test-key-of-at-least-16-bytes")


@pytest.fixture
def make_records(hasher: ApplicantHasher) -> Callable[..., list[InferenceRecord]]:
    """``make_records(n, role=..., seed=..., request_id=..., model_version=...)``: the records of
    one scored request (``scored_batch``)."""

    def make(
        n: int,
        role: Role = Role.CHAMPION,
        seed: int = 0,
        request_id: str | None = None,
        model_version: str = "1",
    ) -> list[InferenceRecord]:
        batch = scored_batch(
            hasher, n, seed=seed, role=role, model_version=model_version, request_id=request_id
        )
        return batch.records()

    return make

"""The record type: one scored application, and how a scored batch becomes records."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

import numpy as np

from credit_scoring.features import feature_names
from credit_scoring.inference_log.settings import InferenceLogSettings

__all__ = ["ApplicantHasher", "InferenceRecord", "Role", "records_from_batch"]

log = logging.getLogger(__name__)


class Role(StrEnum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    """One scored application, as stored (one table row, one spill-file line)."""

    request_id: str
    row_index: int
    logged_at: datetime
    applicant_hash: str
    model_name: str
    model_version: str
    model_alias: str | None
    role: Role
    features: Mapping[str, float | None]
    pd: float
    score: float
    decision: str
    risk_band: str | None
    reason_codes: tuple[str, ...]
    latency_ms: float
    thin_file: bool

    def to_row(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "row_index": self.row_index,
            "role": self.role.value,
            "logged_at": self.logged_at,
            "applicant_hash": self.applicant_hash,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_alias": self.model_alias,
            "features": dict(self.features),
            "pd": self.pd,
            "score": self.score,
            "decision": self.decision,
            "risk_band": self.risk_band,
            "reason_codes": list(self.reason_codes),
            "latency_ms": self.latency_ms,
            "thin_file": self.thin_file,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> InferenceRecord:
        logged_at = row["logged_at"]
        if isinstance(logged_at, str):
            logged_at = datetime.fromisoformat(logged_at)
        if logged_at.tzinfo is None:  # SQLite hands back naive datetimes; we always store UTC
            logged_at = logged_at.replace(tzinfo=UTC)
        return cls(
            request_id=row["request_id"],
            row_index=int(row["row_index"]),
            logged_at=logged_at,
            applicant_hash=row["applicant_hash"],
            model_name=row["model_name"],
            model_version=str(row["model_version"]),
            model_alias=row["model_alias"],
            role=Role(row["role"]),
            features=dict(row["features"]),
            pd=float(row["pd"]),
            score=float(row["score"]),
            decision=row["decision"],
            risk_band=row["risk_band"],
            reason_codes=tuple(row["reason_codes"] or ()),
            latency_ms=float(row["latency_ms"]),
            thin_file=bool(row["thin_file"]),
        )


class ApplicantHasher:
    """Keyed hash of applicant ids: joinable across records, not reversible without the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the applicant hash key must be at least 16 bytes")
        self._key = key

    @classmethod
    def from_settings(cls, settings: InferenceLogSettings) -> ApplicantHasher:
        if settings.hash_key is not None:
            return cls(settings.hash_key.get_secret_value().encode())
        key_file = settings.home / "inference-log-hash.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting together must not each write a different key.
            with contextlib.suppress(FileExistsError):
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_hex(32))
            log.warning("no CREDIT_INFERENCE_LOG_HASH_KEY set: using the local key in %s", key_file)
        return cls(key_file.read_text().strip().encode())

    def __call__(self, applicant_id: str) -> str:
        return hmac.new(self._key, applicant_id.encode(), hashlib.sha256).hexdigest()


def _clean(value: float) -> float | None:
    # JSON (and so the log) has no NaN: a missing feature is stored as null.
    return None if math.isnan(value) else value


def _enum_value(value: object) -> str:
    # Decision is a str Enum; str() of it would give "Decision.APPROVE".
    return str(value.value) if isinstance(value, Enum) else str(value)


def records_from_batch(
    *,
    request_id: str,
    applicant_ids: Sequence[str],
    hasher: ApplicantHasher,
    matrix: np.ndarray,
    pd: Sequence[float] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    decisions: Sequence[str],
    risk_bands: Sequence[str | None] | None,
    reason_codes: Sequence[Sequence[str]],
    thin_file: Sequence[bool] | np.ndarray,
    model_name: str,
    model_version: str,
    model_alias: str | None,
    role: Role,
    latency_ms: float,
    logged_at: datetime | None = None,
) -> list[InferenceRecord]:
    """Records for one scored request; ``matrix`` is the model input in ``feature_names()`` order."""
    names = feature_names()
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape != (len(applicant_ids), len(names)):
        raise ValueError(f"matrix has shape {values.shape}; expected ({len(applicant_ids)}, {len(names)})")
    when = logged_at or datetime.now(UTC)
    return [
        InferenceRecord(
            request_id=request_id,
            row_index=i,
            logged_at=when,
            applicant_hash=hasher(applicant_ids[i]),
            model_name=model_name,
            model_version=str(model_version),
            model_alias=model_alias,
            role=role,
            features={name: _clean(float(v)) for name, v in zip(names, values[i], strict=True)},
            pd=float(pd[i]),
            score=float(score[i]),
            decision=_enum_value(decisions[i]),
            risk_band=risk_bands[i] if risk_bands is not None else None,
            reason_codes=tuple(reason_codes[i]),
            latency_ms=float(latency_ms),
            thin_file=bool(thin_file[i]),
        )
        for i in range(len(applicant_ids))
    ]

"""One error tree for the platform; each server maps it to HTTP status in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CreditScoringError",
    "FeatureStoreUnavailable",
    "FieldProblem",
    "InvalidApplication",
    "ModelNotReady",
    "PredictorUnavailable",
    "RegistryUnavailable",
]


class CreditScoringError(Exception):
    """Base of every error the platform raises on purpose."""

    status_code = 500


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field of one application (``index`` None: the request as a whole)."""

    index: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"instances[{self.index}]." if self.index is not None else ""
        return f"{where}{self.field}: {self.message}"


@dataclass
class InvalidApplication(CreditScoringError):
    """The request is malformed; every problem found is listed, not just the first."""

    problems: list[FieldProblem] = field(default_factory=list)
    status_code = 400

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems) or "invalid request"


class FeatureStoreUnavailable(CreditScoringError):
    status_code = 503


class PredictorUnavailable(CreditScoringError):
    status_code = 503


class ModelNotReady(CreditScoringError):
    status_code = 503


class RegistryUnavailable(CreditScoringError):
    status_code = 503

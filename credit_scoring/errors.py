"""One error tree for the platform; the servers map it to HTTP and gRPC in one place
(``serving.errors``).

Bad input is an ``InvalidApplication`` listing every ``FieldProblem`` found (up to
``MAX_PROBLEMS``), collected with ``Problems``; a dependency that is down is a 503; an answer
from the predictor we cannot use is a 502 (a bug, not an outage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "MAX_PROBLEMS",
    "CreditScoringError",
    "FeatureStoreUnavailable",
    "FieldProblem",
    "InvalidApplication",
    "ModelNotReady",
    "NotServed",
    "OnlineStoreNotReady",
    "Overloaded",
    "PayloadTooLarge",
    "PredictorRejected",
    "PredictorUnavailable",
    "Problems",
    "RateLimited",
    "RegistryUnavailable",
    "RouteClosed",
    "Unauthenticated",
    "UnsupportedMediaType",
    "fail",
    "key_name",
]

# Problems listed in one error at most: a 10,000-row request with a bad column must not answer
# with 10,000 problems (nor spend the time to find them all).
MAX_PROBLEMS = 50


class CreditScoringError(Exception):
    """Base of every error the platform raises on purpose."""

    status_code = 500
    retry_after_seconds: int | None = None
    """When set, the answer carries ``Retry-After`` (429 and shed 503s)."""
    code: str | None = None
    """A stable machine-readable code for clients and runbooks (rendered as ``code`` when set)."""


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
        shown = "; ".join(str(p) for p in self.problems[:MAX_PROBLEMS]) or "invalid request"
        if len(self.problems) > MAX_PROBLEMS:
            shown += f"; ... and {len(self.problems) - MAX_PROBLEMS} more problems"
        return shown


class UnsupportedMediaType(InvalidApplication):
    """The body is not JSON (nor a v2 binary-extension body where one is accepted)."""

    status_code = 415


class Problems:
    """Collects field problems (at most ``MAX_PROBLEMS``) and raises them together."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, index: int | None, field: str, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(FieldProblem(index, field, message))

    def extend(self, problems: list[FieldProblem]) -> None:
        self.items.extend(problems[: max(0, MAX_PROBLEMS - len(self.items))])

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidApplication(self.items)


def key_name(key: object) -> str:
    """A key the caller sent, as a problem's ``field``: an empty key is shown as ``""`` (a 400
    must name its field), a long one is cut, so an error never echoes a large made-up key."""
    text = str(key)
    if not text:
        return '""'
    return text if len(text) <= 64 else text[:61] + "..."


def fail(field: str, message: str, index: int | None = None) -> InvalidApplication:
    """One problem as an error, ready to raise."""
    return InvalidApplication([FieldProblem(index, field, message)])


class PayloadTooLarge(CreditScoringError):
    """The request body is larger than the server accepts (refused before it is read). The
    message is the fixed code, like the other refusals (the limit is documented, not echoed)."""

    status_code = 413
    code = "payload_too_large"

    def __init__(self) -> None:
        super().__init__(self.code)


class FeatureStoreUnavailable(CreditScoringError):
    status_code = 503


class OnlineStoreNotReady(FeatureStoreUnavailable):
    """The online store answers but cannot be trusted: it lost the materialized profiles
    (``online_store_empty``: no materialization marker) or they are older than allowed
    (``online_store_stale``). Scoring would answer known applicants as thin files."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class PredictorUnavailable(CreditScoringError):
    status_code = 503


class PredictorRejected(CreditScoringError):
    """The predictor answered, but with an error or an answer we cannot use (a bug, not an outage)."""

    status_code = 502


class ModelNotReady(CreditScoringError):
    status_code = 503


class RegistryUnavailable(CreditScoringError):
    status_code = 503


class Unauthenticated(CreditScoringError):
    """No credential, or one that matches no key. The message is a fixed code: a 401 says
    nothing about which keys exist or why the one given failed. ``reason`` says it to the
    operator only (a metric label, never in the body): ``missing``, ``invalid_key``,
    ``invalid_token``, ``expired`` or ``unknown_kid``."""

    status_code = 401
    code = "unauthenticated"

    def __init__(self, reason: str = "missing") -> None:
        super().__init__(self.code)
        self.reason = reason


class RateLimited(CreditScoringError):
    """The client spent its request budget; it may retry after ``retry_after_seconds``."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(self.code)
        self.retry_after_seconds = retry_after_seconds


class Overloaded(CreditScoringError):
    """The process already serves as many requests as it may; shed before latency runs away."""

    status_code = 503
    code = "overloaded"

    def __init__(self, retry_after_seconds: int = 1) -> None:
        super().__init__(self.code)
        self.retry_after_seconds = retry_after_seconds


class RouteClosed(CreditScoringError):
    """A route KServe would serve that this platform closes (model repository load/unload)."""

    status_code = 404

    def __init__(self, path: str) -> None:
        super().__init__(f"not found: {path}")


class NotServed(CreditScoringError):
    """A protocol verb the platform does not implement (answered 501 with the reason)."""

    status_code = 501

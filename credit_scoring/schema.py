"""The request contract: one loan application, as clients send it.

Profile data (income, assets, ...) is never taken from the request: it comes from the feature
store by ``applicant_id``, exactly as training saw it. The request carries only what is new with
the application.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credit_scoring.errors import FieldProblem, InvalidApplication, key_name

__all__ = [
    "MAX_AMOUNT",
    "Application",
    "amount_within_price",
    "check_application",
    "parse_applications",
]

MAX_AMOUNT = 1_000_000.0


def amount_within_price(amount: Any, price: Any) -> Any:
    """The one rule across fields: no loan above the price of the goods (scalars or arrays alike;
    the portfolio batch job checks whole columns with it)."""
    return amount <= price


class Application(BaseModel):
    """A loan application. Unknown fields are rejected; numbers must be JSON numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    applicant_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The lender's applicant identifier (the Feast entity key).",
    )
    application_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="The lender's own id of this application (optional). Logged with the decision, "
        "so outcomes loaded later (`credit-scoring outcomes load`) can be matched to it.",
    )
    amount: float = Field(gt=0, le=MAX_AMOUNT, description="Requested loan amount.")
    price: float = Field(gt=0, le=MAX_AMOUNT, description="Price of the goods being financed.")
    term: int = Field(ge=1, le=120, description="Loan term in months.")

    @model_validator(mode="after")
    def _amount_within_price(self) -> Application:
        if not amount_within_price(self.amount, self.price):
            raise ValueError("amount must not exceed price (loan-to-value above 1 is not offered)")
        return self


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(key_name(p) for p in loc) or "application"


def check_application(raw: dict[str, Any], index: int | None = None) -> Application | list[FieldProblem]:
    """The application, or every problem with it as the online path reports them.

    The portfolio batch job reports its rejected rows through here too, so a rejected row carries
    exactly the field-level messages a request with the same values would get.
    """
    try:
        return Application.model_validate(raw)
    except ValidationError as exc:
        return [
            FieldProblem(
                index,
                _location(err["loc"]),
                "unknown field" if err["type"] == "extra_forbidden" else err["msg"],
            )
            for err in exc.errors(include_url=False, include_input=False)
        ]


def parse_applications(instances: Any, max_batch: int) -> list[Application]:
    """Validate a batch, collecting every problem by instance index and field."""
    if not isinstance(instances, Sequence) or isinstance(instances, (str, bytes)):
        raise InvalidApplication([FieldProblem(None, "instances", "must be a list of applications")])
    if len(instances) == 0:
        raise InvalidApplication([FieldProblem(None, "instances", "must contain at least one application")])
    if len(instances) > max_batch:
        raise InvalidApplication(
            [
                FieldProblem(
                    None, "instances", f"has {len(instances)} applications; at most {max_batch} per request"
                )
            ]
        )
    parsed: list[Application] = []
    problems: list[FieldProblem] = []
    for i, raw in enumerate(instances):
        if not isinstance(raw, dict):
            problems.append(FieldProblem(i, "application", "must be a JSON object"))
            continue
        checked = check_application(raw, i)
        if isinstance(checked, Application):
            parsed.append(checked)
        else:
            problems.extend(checked)
    if problems:
        raise InvalidApplication(problems)
    return parsed

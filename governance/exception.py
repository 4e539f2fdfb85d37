"""Fairness exceptions: a signed, dated, expiring acceptance of an AIR below the gate's threshold.

A lender may decide to use a model whose adverse-impact ratio misses the four-fifths rule when no
less discriminatory alternative serves its business need. That decision belongs to people, not
to the training job: it is written down in an exception file (YAML), with

- ``model_name``: the registered model it covers;
- ``air_floor``: the lowest minimum AIR (validation, approvals) it accepts; versions below it are
  still refused;
- ``business_justification``: why, in words a fair-lending reviewer can check;
- ``signer``, ``date`` (signed on), ``expiry`` (after this day it no longer applies).

It waives the fairness part of the registration gate only: never calibration, the Regulation B
age check or reason stability. When applied it is stored with the version (tags and the file
itself as an artifact) and shown in the training report and the model card.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["DEMO_EXCEPTION", "ExceptionFileError", "FairnessException", "load_exception"]

DEMO_EXCEPTION = Path(__file__).resolve().parent / "exceptions" / "credit-risk-demo.yaml"
"""The exception `make demo` registers its model under (its justification is in the file)."""


class ExceptionFileError(ValueError):
    """The exception file cannot be read or is not a valid exception."""


class FairnessException(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(min_length=1, description="Registered model the exception covers.")
    air_floor: float = Field(
        gt=0.0, lt=0.8, description="Lowest minimum AIR of approvals (validation) accepted."
    )
    business_justification: str = Field(
        min_length=80, description="Why the lender accepts the adverse impact; reviewed by fair lending."
    )
    signer: str = Field(min_length=3, description="Who signed it (name and role).")
    date: dt.date = Field(description="Signed on.")
    expiry: dt.date = Field(description="Last day the exception applies.")

    @model_validator(mode="after")
    def _dates(self) -> FairnessException:
        if self.expiry <= self.date:
            raise ValueError("expiry must be after date")
        return self

    def problems(self, model_name: str, today: dt.date) -> list[str]:
        """Why this exception cannot be used for ``model_name`` today (empty: it can)."""
        out = []
        if model_name != self.model_name:
            out.append(f"it covers model {self.model_name!r}, not {model_name!r}")
        if today < self.date:
            out.append(f"it is dated {self.date.isoformat()}, after today ({today.isoformat()})")
        if today > self.expiry:
            out.append(f"it expired on {self.expiry.isoformat()}")
        return out

    def covers(self, min_air: float) -> bool:
        return min_air >= self.air_floor

    def as_tags(self) -> dict[str, str]:
        return {
            "fairness_exception_signer": self.signer,
            "fairness_exception_air_floor": f"{self.air_floor:g}",
            "fairness_exception_date": self.date.isoformat(),
            "fairness_exception_expiry": self.expiry.isoformat(),
        }

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_exception(path: Path) -> FairnessException:
    """Read and validate an exception file; every problem named in one error."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ExceptionFileError(f"cannot read fairness exception {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ExceptionFileError(f"fairness exception {path} must be a YAML mapping")
    try:
        return FairnessException.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ExceptionFileError(f"invalid fairness exception {path}: {problems}") from exc

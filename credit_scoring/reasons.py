"""Adverse-action reason codes and their ranking from TreeSHAP contributions.

Contributions are in log-odds of default: a positive contribution pushed the applicant toward
default. Only positive contributions can ever become a reason, so a feature that lowered the
applicant's risk is never cited. A feature whose value is *missing* is not cited by name either
("Level of income" would be false for an applicant whose income is unknown): the positive
contributions of missing features are pooled under one reason, ``R00`` "insufficient information".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from credit_scoring.features import MODEL_FEATURES

__all__ = ["INSUFFICIENT_INFORMATION", "REASON_CODES", "Reason", "top_reasons"]


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    feature: str
    contribution: float

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "text": self.text,
            "feature": self.feature,
            "contribution": round(self.contribution, 6),
        }


# One code per model feature; texts follow the plain-language style of adverse-action notices.
REASON_CODES: dict[str, tuple[str, str]] = {
    "seniority": ("R01", "Length of employment with current employer"),
    "home": ("R02", "Housing status"),
    "age": ("R03", "Length of credit and employment history for age"),
    "records": ("R04", "Record of arrears or delinquency"),
    "job": ("R05", "Type of employment"),
    "expenses": ("R06", "Level of monthly expenses"),
    "income": ("R07", "Level of income"),
    "assets": ("R08", "Insufficient assets"),
    "debt": ("R09", "Amount of existing debt"),
    "amount": ("R10", "Amount of credit requested"),
    "price": ("R11", "Price of goods financed"),
    "term": ("R12", "Term of the loan requested"),
    "loan_to_value": ("R13", "Loan amount too high relative to goods value"),
    "instalment": ("R14", "Size of monthly instalment"),
    "instalment_to_income": ("R15", "Instalment too high relative to income"),
    "debt_to_income": ("R16", "Debt too high relative to income"),
    "expense_ratio": ("R17", "Expenses too high relative to income"),
    "net_worth": ("R18", "Insufficient net worth"),
}

assert set(REASON_CODES) == {f.name for f in MODEL_FEATURES}, "every model feature needs a reason code"

# Cited when missing values (a thin file, an income never declared) pushed toward default.
INSUFFICIENT_INFORMATION = ("R00", "Insufficient or missing information on file")


def top_reasons(
    contributions: np.ndarray, names: Sequence[str], limit: int, missing: np.ndarray | None = None
) -> list[Reason]:
    """Top ``limit`` reasons for one applicant from a row of per-feature contributions.

    ``contributions`` holds one value per name (the bias column already removed); ``missing``
    (optional, bool per name) marks features without a value: their positive contributions are
    pooled into one ``R00`` reason whose ``feature`` lists them, comma-separated.
    """
    row = np.asarray(contributions, dtype=np.float64)
    candidates: list[Reason] = []
    pooled, pooled_names = 0.0, []
    for j, value in enumerate(row):
        if not value > 0.0:
            continue
        if missing is not None and missing[j]:
            pooled += float(value)
            pooled_names.append(names[j])
            continue
        code, text = REASON_CODES[names[j]]
        candidates.append(Reason(code, text, names[j], float(value)))
    if pooled_names:
        code, text = INSUFFICIENT_INFORMATION
        candidates.append(Reason(code, text, ",".join(pooled_names), pooled))
    # Largest push toward default first; ties keep the feature order (stable sort).
    candidates.sort(key=lambda r: -r.contribution)
    return candidates[:limit]

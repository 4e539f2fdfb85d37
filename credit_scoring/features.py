"""The model's inputs, declared once.

Training, the Feast feature repo, the predictor and the transformer all import this module, so
the order, types, categorical levels and monotone constraints of the model's inputs cannot
drift apart between training and serving. Features are always addressed by name; the order of
``MODEL_FEATURES`` is only the column order of the matrix the booster sees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = [
    "APPLICATION_FIELDS",
    "AUDIT_ONLY_FIELDS",
    "CATEGORICAL_LEVELS",
    "DERIVATION_ONLY_FIELDS",
    "DERIVED_FIELDS",
    "ENTITY_KEY",
    "FEATURE_SERVICE",
    "FEATURE_VIEW",
    "LABEL",
    "MODEL_FEATURES",
    "ON_DEMAND_VIEW",
    "PROFILE_FIELDS",
    "Feature",
    "Kind",
    "derive",
    "encode_categorical",
    "feature_names",
    "feature_types",
    "get",
    "monotone_constraints",
    "to_matrix",
]

ENTITY_KEY = "applicant_id"
FEATURE_VIEW = "applicant_profile"
ON_DEMAND_VIEW = "application_ratios"
FEATURE_SERVICE = "credit_model_v1"
LABEL = "default"  # 1 = bad (Status == "bad"), 0 = good


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    CATEGORY = "category"


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    description: str
    # +1: PD may only rise with the value, -1: only fall, 0: unconstrained.
    monotone: int = 0
    why: str = ""


# Categorical levels are part of the contract: the booster sees the level's index as a
# category code, so the order here must never change for a model family.
CATEGORICAL_LEVELS: dict[str, tuple[str, ...]] = {
    "home": ("rent", "owner", "parents", "priv", "other", "ignore"),
    "marital": ("married", "single", "separated", "widow", "divorced"),
    "job": ("fixed", "freelance", "partime", "others"),
}

PROFILE_FIELDS: tuple[Feature, ...] = (
    Feature(
        "seniority",
        Kind.INT,
        "Years with the current employer.",
        -1,
        "Longer employment means more stable income.",
    ),
    Feature("home", Kind.CATEGORY, "Housing status (rent, owner, parents, priv, other, ignore)."),
    Feature(
        "age",
        Kind.INT,
        "Applicant age in years. Audit attribute (age band), never a model input.",
        0,
        "Not a model input (Regulation B, 12 CFR 1002.6(b)(2)): audited by age band only.",
    ),
    Feature("marital", Kind.CATEGORY, "Marital status. Audited for fairness, never a model input."),
    Feature(
        "records",
        Kind.INT,
        "Arrears records on file: 1 yes, 0 no.",
        +1,
        "Past arrears are the strongest sign of future ones.",
    ),
    Feature("job", Kind.CATEGORY, "Type of employment (fixed, freelance, partime, others)."),
    Feature(
        "expenses",
        Kind.FLOAT,
        "Monthly expenses.",
        +1,
        "Living costs compete with the repayment for the same income.",
    ),
    Feature("income", Kind.FLOAT, "Monthly income.", -1, "More income, more capacity to repay."),
    Feature("assets", Kind.FLOAT, "Total assets.", -1, "Assets are collateral and a buffer."),
    Feature("debt", Kind.FLOAT, "Total outstanding debt.", +1, "Existing debt competes for repayment."),
)

APPLICATION_FIELDS: tuple[Feature, ...] = (
    Feature(
        "amount",
        Kind.FLOAT,
        "Requested loan amount.",
        +1,
        "A larger loan is a larger obligation, other things equal.",
    ),
    Feature(
        "price",
        Kind.FLOAT,
        "Price of the goods being financed. Not a model input: it enters through loan_to_value.",
        0,
        "Not a model input: amount and loan_to_value determine it (price = amount / loan_to_value).",
    ),
    Feature(
        "term",
        Kind.INT,
        "Loan term in months.",
        +1,
        "A longer loan stays exposed to shocks to the applicant's income for longer.",
    ),
)

DERIVED_FIELDS: tuple[Feature, ...] = (
    Feature(
        "loan_to_value",
        Kind.FLOAT,
        "amount / price.",
        +1,
        "Less own contribution to the purchase means more risk.",
    ),
    Feature(
        "instalment",
        Kind.FLOAT,
        "Monthly instalment, amount / term.",
        +1,
        "A higher monthly payment is harder to meet.",
    ),
    Feature(
        "instalment_to_income",
        Kind.FLOAT,
        "instalment / income.",
        +1,
        "Share of income needed for the new loan.",
    ),
    Feature("debt_to_income", Kind.FLOAT, "debt / income.", +1, "Leverage relative to income."),
    Feature(
        "expense_ratio",
        Kind.FLOAT,
        "expenses / income.",
        +1,
        "Share of income already committed to living costs.",
    ),
    Feature("net_worth", Kind.FLOAT, "assets - debt.", -1, "Net buffer against shocks."),
)

# Profile fields kept for the fairness audit (age band, marital status), never model inputs:
# the feature service leaves them out, training reads them only to audit.
AUDIT_ONLY_FIELDS: frozenset[str] = frozenset({"age", "marital"})
# Request fields the on-demand ratios need but the model does not take as such.
DERIVATION_ONLY_FIELDS: frozenset[str] = frozenset({"price"})

MODEL_FEATURES: tuple[Feature, ...] = tuple(
    f
    for f in (*PROFILE_FIELDS, *APPLICATION_FIELDS, *DERIVED_FIELDS)
    if f.name not in AUDIT_ONLY_FIELDS | DERIVATION_ONLY_FIELDS
)
_BY_NAME: dict[str, Feature] = {f.name: f for f in (*PROFILE_FIELDS, *APPLICATION_FIELDS, *DERIVED_FIELDS)}

# Every numeric input can be cited as an adverse-action reason, so every one carries a monotone
# constraint with a stated direction: "income too low" is then true of the model, not a guess.
_UNCONSTRAINED = [
    f.name for f in MODEL_FEATURES if f.kind is not Kind.CATEGORY and not (f.monotone and f.why)
]
if _UNCONSTRAINED:
    raise RuntimeError(f"numeric model features without a monotone constraint and reason: {_UNCONSTRAINED}")


def feature_names() -> list[str]:
    """Column order of the matrix the booster sees."""
    return [f.name for f in MODEL_FEATURES]


def feature_types() -> list[str]:
    """XGBoost feature types: ``c`` marks categoricals, passed as level codes."""
    return [
        "c" if f.kind is Kind.CATEGORY else ("int" if f.kind is Kind.INT else "float") for f in MODEL_FEATURES
    ]


def monotone_constraints() -> tuple[int, ...]:
    return tuple(f.monotone for f in MODEL_FEATURES)


def encode_categorical(name: str, value: object) -> float:
    """Level code for a categorical value; NaN for missing or unseen levels (XGBoost's missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    try:
        return float(CATEGORICAL_LEVELS[name].index(str(value)))
    except ValueError:
        return math.nan


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # A zero or missing denominator gives NaN ("unknown"), which XGBoost routes as missing,
    # rather than inf, which it would treat as a huge real value. The caller holds
    # np.errstate(divide="ignore", invalid="ignore") (entered once per derive, not per ratio:
    # on one application per request the context manager cost as much as the division).
    out = num / den
    out[~np.isfinite(out)] = np.nan
    return out


def derive(columns: Mapping[str, Sequence[float] | np.ndarray]) -> dict[str, np.ndarray]:
    """The on-demand features, vectorised. Feast's on-demand view calls exactly this function."""
    amount = np.asarray(columns["amount"], dtype=np.float64)
    price = np.asarray(columns["price"], dtype=np.float64)
    term = np.asarray(columns["term"], dtype=np.float64)
    income = np.asarray(columns["income"], dtype=np.float64)
    expenses = np.asarray(columns["expenses"], dtype=np.float64)
    assets = np.asarray(columns["assets"], dtype=np.float64)
    debt = np.asarray(columns["debt"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        instalment = _ratio(amount, term)
        ratios = {
            "loan_to_value": _ratio(amount, price),
            "instalment": instalment,
            "instalment_to_income": _ratio(instalment, income),
            "debt_to_income": _ratio(debt, income),
            "expense_ratio": _ratio(expenses, income),
        }
    return {**ratios, "net_worth": assets - debt}


def to_matrix(columns: Mapping[str, Sequence[object] | np.ndarray], n_rows: int) -> np.ndarray:
    """Build the float32 model matrix, in ``feature_names()`` order, from named columns.

    Categorical columns may hold level strings (encoded here) or codes already. A column that is
    absent entirely is all-missing, which the model handles natively (thin-file applicants).
    """
    matrix = np.full((n_rows, len(MODEL_FEATURES)), np.nan, dtype=np.float32)
    for j, feature in enumerate(MODEL_FEATURES):
        values = columns.get(feature.name)
        if values is None:
            continue
        if feature.kind is Kind.CATEGORY:
            if isinstance(values, np.ndarray) and values.dtype.kind == "f":
                # Level codes already (NaN = missing): the batch job encodes each distinct level
                # once with ``encode_categorical`` instead of once per row.
                matrix[:, j] = values
                continue
            matrix[:, j] = [
                v
                if isinstance(v, (int, float)) and not isinstance(v, bool)
                else encode_categorical(feature.name, v)
                for v in values
            ]
        else:
            # pandas nullable columns (Int64/Float64 with <NA>) become NaN here.
            matrix[:, j] = (
                np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
                if not isinstance(values, np.ndarray)
                else values.astype(np.float64)
            )
    return matrix


def get(name: str) -> Feature:
    """Look a declared field up by name."""
    return _BY_NAME[name]

"""Adverse-action reason codes and their ranking from TreeSHAP contributions.

Contributions are in log-odds of default: a positive contribution pushed the applicant toward
default. Only positive contributions can ever become a reason, so a feature that lowered the
applicant's risk is never cited.

- **Directional texts.** Every numeric model input carries a monotone constraint
  (``credit_scoring.features``), so a feature that raised the risk did so because its value lies
  on the constrained side: "Income too low" for income (PD never rises with it), "Debt too high
  for income" for debt_to_income (PD never falls with it). The texts say that direction.
- **Unordered categories** (``home``, ``job``) cannot be constrained; their text names the
  applicant's own category ("Housing status: renting") when the caller passes the values.
- **Missing values.** A feature whose value is missing is not cited by name ("Income too low"
  would be false for an applicant whose income is unknown). The contributions of all missing
  features are pooled by their *net* sum (what the missing information did to this applicant,
  pushes in both directions), and cited as ``R00`` when that net push is toward default; the text
  names what is missing ("Insufficient information on file: income, assets").
- Codes are never reused: ``RETIRED_CODES`` lists the ones that no longer apply and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from credit_scoring.features import CATEGORICAL_LEVELS, DERIVED_FIELDS, MODEL_FEATURES, Kind

__all__ = [
    "CONTRIBUTION_DECIMALS",
    "INSUFFICIENT_INFORMATION",
    "LEVEL_TEXT",
    "MISSING_TEXT",
    "REASON_CODES",
    "RETIRED_CODES",
    "RankedReasons",
    "Reason",
    "missing_text",
    "rank_reasons",
    "reason_dicts_batch",
    "round_contributions",
    "top_reasons",
    "top_reasons_batch",
]

# Answers carry contributions rounded with Python's ``round`` to this many decimals.
CONTRIBUTION_DECIMALS = 6


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
            "contribution": round(self.contribution, CONTRIBUTION_DECIMALS),
        }


# One code per model feature; texts follow the plain-language style of adverse-action notices
# and state the direction the feature's monotone constraint guarantees.
REASON_CODES: dict[str, tuple[str, str]] = {
    "seniority": ("R01", "Time with current employer too short"),
    "home": ("R02", "Housing status"),
    "records": ("R04", "Arrears or delinquency on record"),
    "job": ("R05", "Type of employment"),
    "expenses": ("R06", "Monthly expenses too high"),
    "income": ("R07", "Income too low"),
    "assets": ("R08", "Assets too low"),
    "debt": ("R09", "Existing debt too high"),
    "amount": ("R10", "Amount of credit requested too high"),
    "term": ("R12", "Loan term too long"),
    "loan_to_value": ("R13", "Loan too high relative to the value of the goods"),
    "instalment": ("R14", "Monthly instalment too high"),
    "instalment_to_income": ("R15", "Instalment too high for income"),
    "debt_to_income": ("R16", "Debt too high for income"),
    "expense_ratio": ("R17", "Expenses too high for income"),
    "net_worth": ("R18", "Net worth too low"),
}

# Codes that no longer apply; never given again, never reused for something else.
RETIRED_CODES: dict[str, str] = {
    "R03": "age (text named employment history, which the model never measured); age is no "
    "longer a model input",
    "R11": "price of goods financed (unconstrained); price is no longer a model input, it enters "
    "through loan_to_value",
}

# What the text names for an unordered category: the applicant's own level.
LEVEL_TEXT: dict[str, dict[str, str]] = {
    "home": {
        "rent": "renting",
        "owner": "owns home",
        "parents": "lives with parents",
        "priv": "private housing",
        "other": "other housing",
        "ignore": "housing not stated",
    },
    "job": {
        "fixed": "fixed employment",
        "freelance": "freelance",
        "partime": "part-time employment",
        "others": "other employment",
    },
}

# How a missing feature is named in R00's text; derived ratios are named by what they are made of.
MISSING_TEXT: dict[str, str] = {
    "seniority": "time with employer",
    "home": "housing status",
    "records": "arrears record",
    "job": "type of employment",
    "expenses": "expenses",
    "income": "income",
    "assets": "assets",
    "debt": "debt",
    "amount": "amount requested",
    "term": "loan term",
    "loan_to_value": "value of the goods",
    "instalment": "loan term",
    "instalment_to_income": "income",
    "debt_to_income": "debt or income",
    "expense_ratio": "expenses or income",
    "net_worth": "assets or debt",
}

INSUFFICIENT_INFORMATION = ("R00", "Insufficient information on file")
"""Cited when missing values, taken together, pushed toward default; the text names them."""

_NAMES = {f.name for f in MODEL_FEATURES}
if set(REASON_CODES) != _NAMES or set(MISSING_TEXT) != _NAMES:
    raise RuntimeError("every model feature needs a reason code and a missing-information text")
if set(LEVEL_TEXT) != {f.name for f in MODEL_FEATURES if f.kind is Kind.CATEGORY} or any(
    set(LEVEL_TEXT[name]) != set(CATEGORICAL_LEVELS[name]) for name in LEVEL_TEXT
):
    raise RuntimeError("every level of every categorical model feature needs a text")
if set(RETIRED_CODES) & {code for code, _ in REASON_CODES.values()}:
    raise RuntimeError("a retired reason code is in use again")

_DERIVED = {f.name for f in DERIVED_FIELDS}


def missing_text(names: Sequence[str]) -> str:
    """R00's text for the missing features ``names``: what is missing, each thing named once."""
    said: dict[str, None] = {}
    raw = [n for n in names if n not in _DERIVED]
    # A derived ratio is missing because an input is; name the input when it is itself missing,
    # the ratio's own inputs only when none is (e.g. an income of zero leaves ratios undefined).
    for name in raw or names:
        said.setdefault(MISSING_TEXT[name], None)
    if raw:
        covered = {MISSING_TEXT[n] for n in raw}
        for name in names:
            if name in _DERIVED and not any(part in covered for part in MISSING_TEXT[name].split(" or ")):
                said.setdefault(MISSING_TEXT[name], None)
    return f"{INSUFFICIENT_INFORMATION[1]}: {', '.join(said)}"


def top_reasons(
    contributions: np.ndarray,
    names: Sequence[str],
    limit: int,
    missing: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> list[Reason]:
    """Top ``limit`` reasons for one applicant from a row of per-feature contributions.

    ``contributions`` holds one value per name (the bias column already removed); ``missing``
    (optional, bool per name) marks features without a value: their contributions are pooled
    into one ``R00`` reason whose ``feature`` lists them, comma-separated. ``values`` (optional,
    the row of the model matrix) lets categorical reasons name the applicant's category.
    """
    block = np.asarray(contributions, dtype=np.float64)[None, :]
    return top_reasons_batch(
        block,
        names,
        limit,
        None if missing is None else np.asarray(missing)[None, :],
        None if values is None else np.asarray(values)[None, :],
    )[0]


def top_reasons_batch(
    contributions: np.ndarray,
    names: Sequence[str],
    limit: int,
    missing: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> list[list[Reason]]:
    """``top_reasons`` for every row of ``contributions`` (``[N, len(names)]``): one stable sort
    over the whole block instead of a Python loop per row and feature.

    Largest push toward default first; ties keep the feature order, the pooled R00 reason ranks
    after a cited feature with the same value.
    """
    ranking = rank_reasons(contributions, names, limit, missing, values)
    return [[Reason(*r) for r in row] for row in _rows(ranking, ranking.values)]


def reason_dicts_batch(
    contributions: np.ndarray,
    names: Sequence[str],
    limit: int,
    missing: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> list[list[dict[str, object]]]:
    """``top_reasons_batch`` as ``Reason.as_dict()`` dicts, without building the ``Reason`` objects
    first (the transformer renders a dict per reason; this halves the cost per reason)."""
    ranking = rank_reasons(contributions, names, limit, missing, values)
    return [
        [{"code": c, "text": t, "feature": f, "contribution": v} for c, t, f, v in row]
        for row in _rows(ranking, round_contributions(ranking.values))
    ]


def round_contributions(values: np.ndarray) -> np.ndarray:
    """``round(v, CONTRIBUTION_DECIMALS)`` of every value, vectorised and bit for bit Python's.

    ``rint(v * 10**d) / 10**d`` is the correctly rounded result (what Python's ``round`` returns)
    unless ``v * 10**d`` lies within its own rounding error of a half: those few values, and any
    non-finite or huge one, are rounded by Python itself. ``tests/credit_scoring/test_reasons.py``
    compares both on a million values, halves included.
    """
    values = np.asarray(values, dtype=np.float64)
    scale = 10.0**CONTRIBUTION_DECIMALS
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = values * scale
        out: np.ndarray = np.rint(scaled) / scale
        suspect = ~np.isfinite(scaled) | (np.abs(scaled) > 1e12)
        suspect |= np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(suspect).tolist():
        v = float(values.flat[i])
        out.flat[i] = round(v, CONTRIBUTION_DECIMALS) if np.isfinite(v) else v
    return out


@dataclass(frozen=True)
class RankedReasons:
    """The ranking of a block as arrays, before any per-row object is built.

    Row ``i`` has ``counts[i]`` reasons: ``order[i, :counts[i]]`` are their candidates (a feature
    index, or ``len(names)`` for the pooled R00 reason) and ``values[i, :counts[i]]`` their
    contributions, largest first. ``pooled[i]`` marks the features pooled into row ``i``'s R00
    (every missing feature of the row). ``levels`` holds the block's categorical level codes (the
    model matrix) when the caller passed them, so texts can name the applicant's category. The
    portfolio batch job turns these arrays into columns directly (``batch/answers.py``).
    """

    names: tuple[str, ...]
    order: np.ndarray  # int64 [N, limit]
    values: np.ndarray  # float64 [N, limit]; -inf past counts
    counts: np.ndarray  # int64 [N]
    pooled: np.ndarray  # bool [N, len(names)]
    levels: np.ndarray | None = None  # float [N, len(names)]: the model matrix, or None

    def pooled_names(self, row: int) -> str:
        """The ``feature`` text of row ``row``'s R00 reason: its pooled features, comma-separated."""
        return ",".join(name for name, m in zip(self.names, self.pooled[row].tolist(), strict=True) if m)

    def pooled_text(self, row: int) -> str:
        """The text of row ``row``'s R00 reason: what is missing, in words."""
        return missing_text(
            [name for name, m in zip(self.names, self.pooled[row].tolist(), strict=True) if m]
        )

    def text(self, row: int, candidate: int) -> str:
        """The text of one reason of row ``row`` (``candidate`` as in ``order``)."""
        if candidate == len(self.names):
            return self.pooled_text(row)
        name = self.names[candidate]
        base = REASON_CODES[name][1]
        if self.levels is not None and name in LEVEL_TEXT:
            level = float(self.levels[row, candidate])
            levels = CATEGORICAL_LEVELS[name]
            if 0 <= level < len(levels):  # NaN (missing) compares False: the plain text
                return f"{base}: {LEVEL_TEXT[name][levels[int(level)]]}"
        return base

    def cited_texts(self) -> list[str]:
        """The text of every cited reason, row by row, each row's best first (as ``order``)."""
        texts: list[str] = []
        for i, (row_order, count) in enumerate(zip(self.order.tolist(), self.counts.tolist(), strict=True)):
            texts += [self.text(i, j) for j in row_order[:count]]
        return texts


def rank_reasons(
    contributions: np.ndarray,
    names: Sequence[str],
    limit: int,
    missing: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> RankedReasons:
    """The ranking rules for a block ``[N, len(names)]``, vectorised (see ``top_reasons_batch``)."""
    contrib = np.asarray(contributions, dtype=np.float64)
    if contrib.ndim != 2 or contrib.shape[1] != len(names):
        raise ValueError(f"contributions have shape {contrib.shape}; expected [N, {len(names)}]")
    n, width = contrib.shape
    absent = np.asarray(missing, dtype=bool) if missing is not None else np.zeros((n, width), dtype=bool)
    # Net of the missing values' contributions: a missing value that lowered the risk offsets one
    # that raised it. A running sum in feature order (cumsum adds strictly left to right), the
    # same float additions as a per-row loop (only the sign of a zero net may differ, and a net
    # is only used when it is above zero).
    net = np.where(absent, contrib, 0.0).cumsum(axis=1)[:, -1] if width else np.zeros(n)
    # Candidates: the cited features in feature order, then R00 last, so a stable sort on the
    # negated values breaks ties exactly as ``top_reasons`` does; -inf marks "not a candidate".
    ranked = np.full((n, width + 1), -np.inf)
    ranked[:, :width] = np.where((contrib > 0.0) & ~absent, contrib, -np.inf)
    ranked[:, width] = np.where(absent.any(axis=1) & (net > 0.0), net, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :limit]
    top = np.take_along_axis(ranked, order, axis=1)
    counts = (top > -np.inf).sum(axis=1)
    levels = None if values is None else np.asarray(values)
    return RankedReasons(tuple(names), order, top, counts, absent, levels)


def _rows(ranking: RankedReasons, shown: np.ndarray) -> list[list[tuple[str, str, str, float]]]:
    """The ranking as (code, text, feature, value) per row; ``shown`` holds the values to report."""
    names = ranking.names
    width = len(names)
    cited = [(*REASON_CODES[name], name) for name in names]
    categorical = (
        {j for j, name in enumerate(names) if name in LEVEL_TEXT} if ranking.levels is not None else set()
    )
    code0 = INSUFFICIENT_INFORMATION[0]
    pooled: dict[bytes, tuple[str, str]] = {}
    out: list[list[tuple[str, str, str, float]]] = []
    for i, (row_order, row_top, count) in enumerate(
        zip(ranking.order.tolist(), shown.tolist(), ranking.counts.tolist(), strict=True)
    ):
        row: list[tuple[str, str, str, float]] = []
        for j, value in zip(row_order[:count], row_top[:count], strict=True):
            if j < width:
                code, text, feature = cited[j]
                if j in categorical:
                    text = ranking.text(i, j)
                row.append((code, text, feature, value))
                continue
            key = ranking.pooled[i].tobytes()
            entry = pooled.get(key)
            if entry is None:  # few distinct patterns of missing values: named once each
                entry = pooled[key] = (ranking.pooled_names(i), ranking.pooled_text(i))
            row.append((code0, entry[1], entry[0], value))
        out.append(row)
    return out

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

__all__ = [
    "CONTRIBUTION_DECIMALS",
    "INSUFFICIENT_INFORMATION",
    "REASON_CODES",
    "RankedReasons",
    "Reason",
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
    block = np.asarray(contributions, dtype=np.float64)[None, :]
    return top_reasons_batch(block, names, limit, None if missing is None else np.asarray(missing)[None, :])[
        0
    ]


def top_reasons_batch(
    contributions: np.ndarray, names: Sequence[str], limit: int, missing: np.ndarray | None = None
) -> list[list[Reason]]:
    """``top_reasons`` for every row of ``contributions`` (``[N, len(names)]``): one stable sort
    over the whole block instead of a Python loop per row and feature.

    Largest push toward default first; ties keep the feature order, the pooled R00 reason ranks
    after a cited feature with the same value.
    """
    return [[Reason(*r) for r in row] for row in _ranked(contributions, names, limit, missing)]


def reason_dicts_batch(
    contributions: np.ndarray, names: Sequence[str], limit: int, missing: np.ndarray | None = None
) -> list[list[dict[str, object]]]:
    """``top_reasons_batch`` as ``Reason.as_dict()`` dicts, without building the ``Reason`` objects
    first (the transformer renders a dict per reason; this halves the cost per reason)."""
    ranking = rank_reasons(contributions, names, limit, missing)
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
    contributions, largest first. ``pooled[i]`` marks the features pooled into row ``i``'s R00.
    The portfolio batch job turns these arrays into columns directly (``batch/answers.py``).
    """

    names: tuple[str, ...]
    order: np.ndarray  # int64 [N, limit]
    values: np.ndarray  # float64 [N, limit]; -inf past counts
    counts: np.ndarray  # int64 [N]
    pooled: np.ndarray  # bool [N, len(names)]

    def pooled_names(self, row: int) -> str:
        """The ``feature`` text of row ``row``'s R00 reason: its pooled features, comma-separated."""
        return ",".join(name for name, m in zip(self.names, self.pooled[row].tolist(), strict=True) if m)


def rank_reasons(
    contributions: np.ndarray, names: Sequence[str], limit: int, missing: np.ndarray | None = None
) -> RankedReasons:
    """The ranking rules for a block ``[N, len(names)]``, vectorised (see ``top_reasons_batch``)."""
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(f"contributions have shape {values.shape}; expected [N, {len(names)}]")
    n, width = values.shape
    positive = values > 0.0
    pooled_mask = (
        positive & np.asarray(missing, dtype=bool) if missing is not None else np.zeros_like(positive)
    )
    pooled = np.zeros(n, dtype=np.float64)
    for j in range(width):
        # Column by column in feature order: the same float additions as the per-row loop.
        pooled += np.where(pooled_mask[:, j], values[:, j], 0.0)
    # Candidates: the cited features in feature order, then R00 last, so a stable sort on the
    # negated values breaks ties exactly as ``top_reasons`` does; -inf marks "not a candidate".
    ranked = np.full((n, width + 1), -np.inf)
    ranked[:, :width] = np.where(positive & ~pooled_mask, values, -np.inf)
    ranked[:, width] = np.where(pooled_mask.any(axis=1), pooled, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :limit]
    top = np.take_along_axis(ranked, order, axis=1)
    counts = (top > -np.inf).sum(axis=1)
    return RankedReasons(tuple(names), order, top, counts, pooled_mask)


def _ranked(
    contributions: np.ndarray, names: Sequence[str], limit: int, missing: np.ndarray | None
) -> list[list[tuple[str, str, str, float]]]:
    """(code, text, feature, contribution) of the top reasons per row, as ``top_reasons`` ranks them."""
    ranking = rank_reasons(contributions, names, limit, missing)
    return _rows(ranking, ranking.values)


def _rows(ranking: RankedReasons, shown: np.ndarray) -> list[list[tuple[str, str, str, float]]]:
    """The ranking as (code, text, feature, value) per row; ``shown`` holds the values to report."""
    names = ranking.names
    width = len(names)
    cited = [(*REASON_CODES[name], name) for name in names]
    code0, text0 = INSUFFICIENT_INFORMATION
    pooled_names: dict[bytes, str] = {}
    out: list[list[tuple[str, str, str, float]]] = []
    for i, (row_order, row_top, count) in enumerate(
        zip(ranking.order.tolist(), shown.tolist(), ranking.counts.tolist(), strict=True)
    ):
        row: list[tuple[str, str, str, float]] = []
        for j, value in zip(row_order[:count], row_top[:count], strict=True):
            if j < width:
                row.append((*cited[j], value))
                continue
            key = ranking.pooled[i].tobytes()
            joined = pooled_names.get(key)
            if joined is None:  # few distinct patterns of missing values: joined once each
                joined = pooled_names[key] = ranking.pooled_names(i)
            row.append((code0, text0, joined, value))
        out.append(row)
    return out

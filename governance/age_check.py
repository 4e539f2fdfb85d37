"""The Regulation B age check: moving only an applicant's age never lowers their score at 62+.

12 CFR 1002.6(b)(2) lets an empirically derived system consider age only if applicants aged 62
or over are not assigned a negative factor for it. Today's contract does not give the model age
at all, so a model built from it passes trivially; the check exists so that no version, however
it was built, can reach the ``challenger`` alias with an age penalty. It therefore scores the
*registered* version (``governance.version.VersionScorer``: its own booster, inputs and policy)
on inputs assembled the way serving assembles them:

- each applicant's profile as the online store would hold it, *including* the audit attribute
  ``age``, set in turn to every age of a grid (18 to 90) while everything else stays put;
- the request fields of their application;
- the derived ratios computed by the on-demand feature view's own transformation, read from the
  Feast registry (the UDF serving runs, which receives the whole profile, age included);
- the matrix in the version's own feature order.

A version whose inputs include age (directly or through a derived feature) is caught; a test
registers such a model and proves the check refuses it. The property, per applicant:
``min(score at ages >= 62) >= max(score at any age)``, up to ``TOLERANCE`` points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.audit import ELDERLY_AGE
from credit_scoring.features import APPLICATION_FIELDS, ON_DEMAND_VIEW, PROFILE_FIELDS
from governance.version import VersionScorer

__all__ = ["AGE_GRID", "TOLERANCE", "AgeCheckResult", "check_age", "serving_columns"]

AGE_GRID = np.arange(18, 91)
TOLERANCE = 1e-6
"""Points; scores that do not depend on age are bit-for-bit equal."""
RAW_FIELDS = tuple(f.name for f in (*PROFILE_FIELDS, *APPLICATION_FIELDS))


@dataclass(frozen=True)
class AgeCheckResult:
    passed: bool
    applicants: int
    ages: tuple[int, int]
    penalised: int
    """Applicants whose score at some age of 62+ is below their best score at any age."""
    worst_points: float
    """Largest score loss to age found (0 when none)."""
    worst_example: dict[str, Any] | None
    version: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        if self.passed:
            return (
                f"no applicant of {self.applicants} scores lower at any age {ELDERLY_AGE}+ than at any "
                f"age {self.ages[0]}-{self.ages[1]}"
            )
        ex = self.worst_example or {}
        return (
            f"{self.penalised} of {self.applicants} applicants score lower at some age {ELDERLY_AGE}+ "
            f"than at a younger age; worst: {self.worst_points:.2f} points (age {ex.get('elderly_age')} "
            f"scores {ex.get('elderly_score', float('nan')):.1f}, age {ex.get('best_age')} "
            f"{ex.get('best_score', float('nan')):.1f})"
        )


def _odfv(store: Any) -> Any:
    return store.get_on_demand_feature_view(ON_DEMAND_VIEW)


def serving_columns(store: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """Raw profile + request columns plus the derived ratios from the registry's on-demand view,
    as the transformer builds them (numbers as float64 arrays, levels as text)."""
    odfv = _odfv(store)
    columns = dict(raw)
    if odfv.mode == "pandas":
        result = odfv.feature_transformation.transform(pd.DataFrame(columns))
        derived = {c: result[c].to_numpy(dtype=np.float64) for c in result.columns if c not in columns}
    else:
        result = odfv.transform_dict(columns)
        derived = {k: np.asarray(v, dtype=np.float64) for k, v in result.items() if k not in columns}
    columns.update(derived)
    return columns


def _raw_column(frame: pd.DataFrame, name: str, repeat: int) -> Any:
    values = frame[name]
    if values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype | pd.StringDtype):
        return [None if v is None or v != v else v for v in np.repeat(values.to_numpy(dtype=object), repeat)]
    return np.repeat(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64), repeat)


def check_age(
    scorer: VersionScorer,
    store: Any,
    applicants: pd.DataFrame,
    ages: np.ndarray = AGE_GRID,
) -> AgeCheckResult:
    """Score every applicant at every age of ``ages`` through the serving path; see the module doc."""
    n, k = len(applicants), len(ages)
    raw = {name: _raw_column(applicants, name, k) for name in RAW_FIELDS if name in applicants.columns}
    raw["age"] = np.tile(np.asarray(ages, dtype=np.float64), n)
    columns = serving_columns(store, raw)
    scores = scorer.scores(columns, n * k).reshape(n, k)
    elderly = np.asarray(ages) >= ELDERLY_AGE
    best = scores.max(axis=1)
    worst_elderly = scores[:, elderly].min(axis=1)
    lost = best - worst_elderly
    penalised = lost > TOLERANCE
    example = None
    if penalised.any():
        i = int(np.argmax(lost))
        j_old = int(np.flatnonzero(elderly)[np.argmin(scores[i, elderly])])
        j_best = int(np.argmax(scores[i]))
        example = {
            "row": i,
            "actual_age": None if "age" not in applicants else _age(applicants["age"].iloc[i]),
            "elderly_age": int(ages[j_old]),
            "elderly_score": float(scores[i, j_old]),
            "best_age": int(ages[j_best]),
            "best_score": float(scores[i, j_best]),
        }
    return AgeCheckResult(
        passed=not penalised.any(),
        applicants=n,
        ages=(int(ages[0]), int(ages[-1])),
        penalised=int(penalised.sum()),
        worst_points=float(max(lost.max(initial=0.0), 0.0)),
        worst_example=example,
        version=scorer.version,
    )


def _age(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

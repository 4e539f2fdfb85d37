"""What the served version's decisions turned out to be, and whom they favoured.

**Realised performance** (per served version): the version's champion decisions that carried an
``application_id`` are joined with ``outcomes`` (``monitoring.outcomes``). An outcome is
*matured* when it can no longer change the label:

- a default (``defaulted`` true) is final whenever it was observed;
- a non-default counts only once the loan has been observed for the whole performance window
  (``observed_at`` at least ``performance_window_days`` after the decision was logged, 365 by
  default): a loan that has not defaulted *yet* is not a good loan.

Over matured outcomes: the count, the default rate (of all and of approved applications), AUC
and KS of the PD against the outcome (both classes needed), and per risk band the realised default
rate next to the expected one (the band's mean PD) with the binomial 97.5% upper bound of what the
expected rate allows. When an application was scored more than once by the version, its latest
decision counts. The drift job asks about the version's champion decisions of all time;
``credit-scoring compare`` asks the same question per side (``role``) of its window.

**Production fairness**: the approval rate and adverse-impact ratio per age band and per marital
status over the drift window, from the audit attributes the transformer logs next to each
decision (never model inputs); the same AIR definition as training (``credit_scoring.audit``).
The floor it is held to is the version's accepted AIR floor: 0.8, or the floor of the fairness
exception the version was registered under (its ``fairness_exception_air_floor`` tag).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy import stats

from credit_scoring.audit import AIR_THRESHOLD, AUDIT_ATTRIBUTES, adverse_impact, min_air
from credit_scoring.policy import Decision
from inference_log import LOG_TABLE, Role
from monitoring.outcomes import OUTCOMES

__all__ = [
    "BandOutcome",
    "FairnessView",
    "RealisedPerformance",
    "production_fairness",
    "realised_performance",
]


@dataclass(frozen=True)
class BandOutcome:
    band: str
    outcomes: int
    defaults: int
    realised_default_rate: float
    expected_default_rate: float
    upper_default_rate: float
    """Binomial 97.5% quantile of the default count at the expected rate, as a rate."""


@dataclass
class RealisedPerformance:
    model_version: str
    window_days: float
    decisions_with_id: int
    outcomes_joined: int
    matured: int
    min_matured: int
    default_rate: float | None = None
    approved_default_rate: float | None = None
    auc: float | None = None
    ks: float | None = None
    bands: list[BandOutcome] = field(default_factory=list)
    development_auc: float | None = None

    @property
    def enough(self) -> bool:
        return self.matured >= self.min_matured

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["enough"] = self.enough
        return out


@dataclass
class FairnessView:
    records: int
    """Champion decisions of the version in the window that carry audit attributes."""
    air_floor: float
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _auc_ks(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """AUC and KS of ``score`` (higher = riskier) for 0/1 outcomes ``y``, rank-based."""
    ranks = stats.rankdata(score)
    bad = y.astype(bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    auc = (ranks[bad].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good)
    ks = float(stats.ks_2samp(score[bad], score[~bad]).statistic)
    return float(auc), ks


_DECISION_COLUMNS = ["application_id", "logged_at", "pd", "decision", "risk_band", "defaulted", "observed_at"]


def _version_decisions(
    engine: sa.Engine,
    model_name: str,
    version: str,
    role: Role,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    log = LOG_TABLE.c
    where = [
        log.model_name == model_name,
        log.model_version == version,
        log.role == role.value,
        log.application_id.is_not(None),
    ]
    if start is not None:
        where.append(log.logged_at >= start)
    if end is not None:
        where.append(log.logged_at < end)
    query = (
        sa.select(
            log.application_id,
            log.logged_at,
            log.pd,
            log.decision,
            log.risk_band,
            OUTCOMES.c.defaulted,
            OUTCOMES.c.observed_at,
        )
        .select_from(LOG_TABLE.outerjoin(OUTCOMES, OUTCOMES.c.application_id == log.application_id))
        .where(*where)
        .order_by(log.logged_at)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=_DECISION_COLUMNS)
    for column in ("logged_at", "observed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    # Scored more than once by this version: the latest decision is the one the loan followed.
    return frame.drop_duplicates("application_id", keep="last").reset_index(drop=True)


def realised_performance(
    engine: sa.Engine,
    model_name: str,
    version: str,
    *,
    window_days: float,
    min_matured: int,
    band_order: list[str] | None = None,
    development_auc: float | None = None,
    role: Role = Role.CHAMPION,
    start: datetime | None = None,
    end: datetime | None = None,
) -> RealisedPerformance:
    """The version's ``role`` decisions (logged in [start, end) when given) against their outcomes."""
    inspector = sa.inspect(engine)
    result = RealisedPerformance(version, window_days, 0, 0, 0, min_matured, development_auc=development_auc)
    if not inspector.has_table(LOG_TABLE.name) or not inspector.has_table(OUTCOMES.name):
        return result
    frame = _version_decisions(engine, model_name, version, role, start, end)
    result.decisions_with_id = len(frame)
    joined = frame[frame["defaulted"].notna()]
    result.outcomes_joined = len(joined)
    window = timedelta(days=window_days)
    defaulted = joined["defaulted"].astype(bool)
    matured = joined[defaulted | (joined["observed_at"] >= joined["logged_at"] + window)]
    result.matured = len(matured)
    if not result.enough:
        return result
    y = matured["defaulted"].astype(bool).to_numpy()
    pd_ = matured["pd"].to_numpy(dtype=np.float64)
    result.default_rate = float(y.mean())
    approved = (matured["decision"] == Decision.APPROVE.value).to_numpy()
    if approved.any():
        result.approved_default_rate = float(y[approved].mean())
    if 0 < y.sum() < len(y):
        result.auc, result.ks = _auc_ks(y.astype(np.float64), pd_)
    bands = band_order or sorted(matured["risk_band"].dropna().unique())
    for band in bands:
        part = matured[matured["risk_band"] == band]
        n = len(part)
        if n == 0:
            continue
        defaults = int(part["defaulted"].astype(bool).sum())
        expected = float(part["pd"].mean())
        upper = float(stats.binom.ppf(0.975, n, expected)) / n
        result.bands.append(BandOutcome(band, n, defaults, defaults / n, expected, upper))
    return result


def production_fairness(
    engine: sa.Engine,
    model_name: str,
    version: str,
    start: datetime,
    end: datetime,
    air_floor: float = AIR_THRESHOLD,
) -> FairnessView:
    """Approval-rate AIR by audit attribute over the champion decisions of [start, end)."""
    view = FairnessView(0, air_floor)
    if not sa.inspect(engine).has_table(LOG_TABLE.name):
        return view
    log = LOG_TABLE.c
    query = sa.select(log.decision, log.age_band, log.marital).where(
        log.model_name == model_name,
        log.model_version == version,
        log.role == Role.CHAMPION.value,
        log.logged_at >= start,
        log.logged_at < end,
        sa.or_(log.age_band.is_not(None), log.marital.is_not(None)),
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    view.records = len(rows)
    if not rows:
        return view
    approved = np.array([r.decision == Decision.APPROVE.value for r in rows], dtype=bool)
    for attribute in AUDIT_ATTRIBUTES:
        groups = [getattr(r, attribute) for r in rows]
        rates = adverse_impact(groups, approved)
        view.groups[attribute] = [asdict(r) for r in rates]
        lowest = min_air(rates)
        if np.isfinite(lowest):
            view.minimum[attribute] = lowest
    return view

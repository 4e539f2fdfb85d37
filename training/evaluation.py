"""How good and how fair a model is on one window (validation for decisions, test for reporting).

- Discrimination: AUC, Gini (= 2 AUC - 1), KS (largest gap between the score distributions of
  goods and bads).
- Calibration: Brier score, and per risk band the mean predicted PD next to the observed
  default rate (the calibration *gate* is ``training.calibration``).
- Fairness: adverse-impact ratio (AIR, ``credit_scoring.audit``) per age band (the top band is
  62+) and per marital status, with two favourable outcomes: *approve*, and *approve or refer*
  (a referral is not a decline). Age and marital status are audit attributes, never inputs.
- Calibration by group: mean PD next to the observed default rate per age band and marital
  status (a model can rank fairly yet over-state one group's risk).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from credit_scoring.audit import (
    AGE_BANDS,
    AIR_THRESHOLD,
    MIN_GROUP,
    adverse_impact,
    age_bands,
    min_air,
)
from credit_scoring.policy import Decision, ScorePolicy
from training.calibration import calibration_by_group

__all__ = [
    "AGE_BANDS",
    "AIR_THRESHOLD",
    "AUDITS",
    "MIN_GROUP",
    "Evaluation",
    "audit_groups",
    "calibration_by_band",
    "discrimination",
    "evaluate",
    "fairness",
    "favourable",
]

AUDITS = ("age_band", "marital")
OUTCOMES = {"approve": "approval", "approve_or_refer": "approval or referral"}


def audit_groups(frame: pd.DataFrame) -> dict[str, list[str | None]]:
    """The audit attributes of each row: age band (from ``age``) and marital status."""
    marital = [None if v is None or v != v else str(v) for v in frame["marital"].tolist()]  # NaN != NaN
    return {"age_band": age_bands(frame["age"].tolist()), "marital": marital}


def discrimination(y: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    auc = float(roc_auc_score(y, pd_))
    fpr, tpr, _ = roc_curve(y, pd_)
    return {
        "auc": auc,
        "gini": 2.0 * auc - 1.0,
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(y, pd_)),
        "default_rate": float(np.mean(y)),
    }


def calibration_by_band(
    y: np.ndarray, pd_: np.ndarray, score: np.ndarray, policy: ScorePolicy
) -> pd.DataFrame:
    bands = policy.band(score)
    frame = pd.DataFrame({"band": bands, "y": y, "pd": pd_})
    table = frame.groupby("band", sort=False).agg(
        count=("y", "size"), observed_default_rate=("y", "mean"), mean_pd=("pd", "mean")
    )
    order = [b.name for b in policy.bands]
    return table.reindex([b for b in order if b in table.index]).reset_index()


def favourable(decisions: list[Decision]) -> dict[str, np.ndarray]:
    """Per favourable-outcome definition, which rows got it."""
    return {
        "approve": np.array([d is Decision.APPROVE for d in decisions], dtype=bool),
        "approve_or_refer": np.array([d is not Decision.DECLINE for d in decisions], dtype=bool),
    }


def fairness(groups: pd.Series | list[str | None], approved: np.ndarray) -> pd.DataFrame:
    """Favourable rate and AIR per group (against the most favoured group of at least MIN_GROUP)."""
    values = groups.tolist() if isinstance(groups, pd.Series) else list(groups)
    values = [None if v is None or v != v else v for v in values]  # NaN != NaN: missing
    rates = adverse_impact(values, approved)
    return pd.DataFrame(
        {
            "group": [r.group for r in rates],
            "count": [r.count for r in rates],
            "approval_rate": [r.rate for r in rates],
            "air": [r.air for r in rates],
            "flagged": [r.flagged for r in rates],
        }
    )


def _audit_table(groups: list[str | None], outcomes: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per group: its count, and rate + AIR + flag for each favourable outcome."""
    table: pd.DataFrame | None = None
    for outcome, good in outcomes.items():
        part = fairness(groups, good).rename(
            columns={
                "approval_rate": f"{outcome}_rate",
                "air": f"air_{outcome}",
                "flagged": f"flagged_{outcome}",
            }
        )
        table = part if table is None else table.merge(part.drop(columns="count"), on="group")
    assert table is not None
    order = {label: i for i, (label, _, _) in enumerate(AGE_BANDS)}
    return table.sort_values("group", key=lambda s: s.map(lambda g: order.get(g, 99))).reset_index(drop=True)


@dataclass
class Evaluation:
    metrics: dict[str, float]
    calibration: pd.DataFrame
    fairness: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per audit attribute: rates and AIRs for both favourable outcomes."""
    calibration_by_group: dict[str, pd.DataFrame] = field(default_factory=dict)


def evaluate(
    frame: pd.DataFrame,
    y: np.ndarray,
    pd_: np.ndarray,
    score: np.ndarray,
    decisions: list[Decision],
    policy: ScorePolicy,
) -> Evaluation:
    """All metrics of one window (names without prefix; the caller adds ``test_`` / ``valid_``).

    ``air_min_<attribute>`` is the AIR of approvals, ``air_aor_min_<attribute>`` of approvals or
    referrals; ``air_min`` the lowest over both attributes (what the registration gate reads).
    """
    metrics = discrimination(y, pd_)
    outcomes = favourable(decisions)
    approved = outcomes["approve"]
    metrics["approval_rate"] = float(approved.mean())
    metrics["decline_rate"] = float((~outcomes["approve_or_refer"]).mean())
    metrics["approved_default_rate"] = float(y[approved].mean()) if approved.any() else float("nan")
    groups = audit_groups(frame)
    audits: dict[str, pd.DataFrame] = {}
    by_group: dict[str, pd.DataFrame] = {}
    for name in AUDITS:
        audits[name] = _audit_table(groups[name], outcomes)
        for outcome, prefix in (("approve", "air"), ("approve_or_refer", "air_aor")):
            rates = adverse_impact(groups[name], outcomes[outcome])
            metrics[f"{prefix}_min_{name}"] = min_air(rates)
            metrics[f"{prefix}_flagged_{name}"] = float(sum(r.flagged for r in rates))
        by_group[name] = calibration_by_group(pd.Series(groups[name], dtype="object"), y, pd_)
    metrics["air_min"] = float(np.nanmin([metrics[f"air_min_{n}"] for n in AUDITS]))
    metrics["air_aor_min"] = float(np.nanmin([metrics[f"air_aor_min_{n}"] for n in AUDITS]))
    return Evaluation(metrics, calibration_by_band(y, pd_, score, policy), audits, by_group)

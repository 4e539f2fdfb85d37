"""How good and how fair the model is, on the out-of-time test window.

- Discrimination: AUC, Gini (= 2 AUC - 1), KS (largest gap between the score distributions of
  goods and bads).
- Calibration: Brier score, and per risk band the mean predicted PD next to the observed
  default rate.
- Fairness: adverse-impact ratio (AIR) of approvals per group: the group's approval rate over
  the most-approved group's rate. Below 0.8 (the four-fifths rule) is flagged. Age band and
  marital status are audited; marital status is never a model input. Groups with fewer than
  ``MIN_GROUP`` applications are reported but not used for the minimum (too noisy to act on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from credit_scoring.policy import Decision, ScorePolicy

__all__ = [
    "AGE_BANDS",
    "AIR_THRESHOLD",
    "MIN_GROUP",
    "Evaluation",
    "age_band",
    "calibration_by_band",
    "discrimination",
    "evaluate",
    "fairness",
]

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-24", 18, 25),
    ("25-34", 25, 35),
    ("35-44", 35, 45),
    ("45-54", 45, 55),
    ("55+", 55, 200),
)
AIR_THRESHOLD = 0.8
MIN_GROUP = 30


def age_band(age: pd.Series) -> pd.Series:
    values = pd.to_numeric(age, errors="coerce")
    out = pd.Series("unknown", index=age.index, dtype="object")
    for name, low, high in AGE_BANDS:
        out[(values >= low) & (values < high)] = name
    return out


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


def fairness(groups: pd.Series, approved: np.ndarray) -> pd.DataFrame:
    """Approval rate and AIR per group (against the group with the highest approval rate)."""
    frame = pd.DataFrame({"group": groups.fillna("unknown").astype(str).to_numpy(), "approved": approved})
    table = frame.groupby("group").agg(count=("approved", "size"), approval_rate=("approved", "mean"))
    eligible = table[table["count"] >= MIN_GROUP]
    reference = (
        float(eligible["approval_rate"].max()) if len(eligible) else float(table["approval_rate"].max())
    )
    table["air"] = table["approval_rate"] / reference if reference > 0 else np.nan
    table["flagged"] = (table["count"] >= MIN_GROUP) & (table["air"] < AIR_THRESHOLD)
    return table.reset_index()


@dataclass
class Evaluation:
    metrics: dict[str, float]
    calibration: pd.DataFrame
    fairness: dict[str, pd.DataFrame] = field(default_factory=dict)


def evaluate(
    frame: pd.DataFrame,
    y: np.ndarray,
    pd_: np.ndarray,
    score: np.ndarray,
    decisions: list[Decision],
    policy: ScorePolicy,
) -> Evaluation:
    """All test-window metrics (names without prefix; the caller adds ``test_``)."""
    metrics = discrimination(y, pd_)
    approved = np.array([d is Decision.APPROVE for d in decisions])
    declined = np.array([d is Decision.DECLINE for d in decisions])
    metrics["approval_rate"] = float(approved.mean())
    metrics["decline_rate"] = float(declined.mean())
    metrics["approved_default_rate"] = float(y[approved].mean()) if approved.any() else float("nan")
    audits = {
        "age_band": fairness(age_band(frame["age"]), approved),
        "marital": fairness(frame["marital"], approved),
    }
    for name, table in audits.items():
        eligible = table[table["count"] >= MIN_GROUP]
        metrics[f"air_min_{name}"] = float(eligible["air"].min()) if len(eligible) else float("nan")
        metrics[f"air_flagged_{name}"] = float(eligible["flagged"].sum())
    return Evaluation(metrics, calibration_by_band(y, pd_, score, policy), audits)

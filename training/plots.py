"""The training run's plots (PNG): ROC, KS, calibration by band, score distribution."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: training runs in jobs and tests without a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from credit_scoring.policy import ScorePolicy

__all__ = ["write_plots"]

_DPI = 90


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def _roc(y: np.ndarray, pd_: np.ndarray, auc: float, path: Path) -> Path:
    fpr, tpr, _ = roc_curve(y, pd_)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set(
        xlabel="False positive rate (goods flagged)",
        ylabel="True positive rate (bads caught)",
        title="ROC, out-of-time test",
    )
    ax.legend(loc="lower right")
    return _save(fig, path)


def _ks(y: np.ndarray, score: np.ndarray, ks: float, path: Path) -> Path:
    grid = np.linspace(score.min(), score.max(), 200)
    goods, bads = np.sort(score[y == 0]), np.sort(score[y == 1])
    cdf_good = np.searchsorted(goods, grid, side="right") / max(len(goods), 1)
    cdf_bad = np.searchsorted(bads, grid, side="right") / max(len(bads), 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid, cdf_bad, label="bads")
    ax.plot(grid, cdf_good, label="goods")
    ax.set(xlabel="Score", ylabel="Cumulative share", title=f"KS {ks:.3f}, out-of-time test")
    ax.legend()
    return _save(fig, path)


def _calibration(table: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["mean_pd"], width=0.4, label="mean predicted PD")
    ax.bar(x + 0.2, table["observed_default_rate"], width=0.4, label="observed default rate")
    ax.set_xticks(x, [f"{b}\n(n={n})" for b, n in zip(table["band"], table["count"], strict=True)])
    ax.set(xlabel="Risk band", ylabel="Default rate", title="Calibration by risk band, out-of-time test")
    ax.legend()
    return _save(fig, path)


def _distribution(score: np.ndarray, y: np.ndarray, policy: ScorePolicy, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(np.floor(score.min()), np.ceil(score.max()), 40).tolist()
    ax.hist(score[y == 0], bins=bins, alpha=0.6, label="goods")
    ax.hist(score[y == 1], bins=bins, alpha=0.6, label="bads")
    ax.axvline(policy.approve_min_score, color="green", linestyle="--", label="approve at or above")
    ax.axvline(policy.decline_below_score, color="red", linestyle="--", label="decline below")
    ax.set(xlabel="Score", ylabel="Applications", title="Score distribution, out-of-time test")
    ax.legend()
    return _save(fig, path)


def write_plots(
    out_dir: Path,
    y: np.ndarray,
    pd_: np.ndarray,
    score: np.ndarray,
    metrics: dict[str, float],
    calibration: pd.DataFrame,
    policy: ScorePolicy,
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _roc(y, pd_, metrics["auc"], out_dir / "roc.png"),
        _ks(y, score, metrics["ks"], out_dir / "ks.png"),
        _calibration(calibration, out_dir / "calibration.png"),
        _distribution(score, y, policy, out_dir / "score_distribution.png"),
    ]

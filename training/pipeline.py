"""Training end to end: Feast training set -> booster -> policy -> evaluation -> MLflow.

``train_and_register`` is what ``credit-scoring train`` runs, and what tests call to put a
(new) version into a registry. Steps report progress through an optional callback so the CLI
can show it without this module knowing about terminals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb

from credit_scoring.features import FEATURE_SERVICE, LABEL, feature_names
from credit_scoring.policy import ScorePolicy
from training.dataset import TIME_COLUMN, Split, split_out_of_time, training_frame
from training.evaluation import Evaluation, discrimination, evaluate
from training.model import ModelConfig, fit, predict_pd
from training.plots import write_plots
from training.policy import PolicyTargets, choose_policy
from training.registry import RegisteredModel, log_and_register
from training.report import write_report

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "REFERENCE_COLUMNS",
    "STEPS",
    "TrainedModel",
    "TrainingResult",
    "fit_model",
    "reference_frame",
    "train_and_register",
]

MODEL_NAME = "credit-risk"
EXPERIMENT = "credit-risk"
STEPS = ("features", "fit", "evaluate", "artifacts", "model", "register")
REFERENCE_COLUMNS = [*feature_names(), "pd", "score", "decision", LABEL, TIME_COLUMN, "marital"]

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


@dataclass
class TrainedModel:
    """A fitted booster with its policy and evaluation, not yet logged anywhere."""

    booster: xgb.Booster
    split: Split
    policy: ScorePolicy
    evaluation: Evaluation
    valid_metrics: dict[str, float]
    train_metrics: dict[str, float]
    test_pd: np.ndarray
    config: ModelConfig
    targets: PolicyTargets

    @property
    def best_iteration(self) -> int:
        return int(self.booster.attr("best_iteration") or self.booster.num_boosted_rounds() - 1)

    def metrics(self) -> dict[str, float]:
        """Everything logged to MLflow: ``test_*`` (the model's grades), ``valid_*``, ``train_*``."""
        out = {f"test_{k}": v for k, v in self.evaluation.metrics.items()}
        out |= {f"valid_{k}": v for k, v in self.valid_metrics.items()}
        out |= {f"train_{k}": v for k, v in self.train_metrics.items()}
        out["best_iteration"] = float(self.best_iteration)
        return out


@dataclass(frozen=True)
class TrainingResult:
    """What ``credit-scoring train --json`` prints and what callers get back."""

    registered: RegisteredModel
    test_metrics: dict[str, float]
    policy: ScorePolicy
    rows: dict[str, int]
    best_iteration: int
    seconds: float
    calibration: list[dict[str, Any]] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.registered.version

    def summary(self) -> dict[str, Any]:
        return {
            "model_name": self.registered.name,
            "version": self.registered.version,
            "aliases": self.registered.aliases,
            "model_uri": self.registered.model_uri,
            "run_id": self.registered.run_id,
            "feature_service": FEATURE_SERVICE,
            "rows": self.rows,
            "best_iteration": self.best_iteration,
            "test_metrics": {k: round(v, 6) for k, v in self.test_metrics.items()},
            "calibration_by_band": self.calibration,
            "policy": self.policy.model_dump(mode="json"),
            "seconds": round(self.seconds, 2),
        }


def fit_model(
    frame: pd.DataFrame, config: ModelConfig, targets: PolicyTargets, progress: Progress = _noop
) -> TrainedModel:
    """Split out of time, fit, choose the policy on validation, evaluate on test."""
    split = split_out_of_time(frame)
    x_train, y_train = split.matrix(split.train), split.labels(split.train)
    x_valid, y_valid = split.matrix(split.valid), split.labels(split.valid)
    x_test, y_test = split.matrix(split.test), split.labels(split.test)
    progress("fit")
    booster = fit(x_train, y_train, x_valid, y_valid, config)
    valid_pd = predict_pd(booster, x_valid)
    policy = choose_policy(valid_pd, y_valid, targets)
    progress("evaluate")
    test_pd = predict_pd(booster, x_test)
    test_score = np.asarray(policy.scale.score(test_pd))
    evaluation = evaluate(split.test, y_test, test_pd, test_score, policy.decide(test_score), policy)
    return TrainedModel(
        booster=booster,
        split=split,
        policy=policy,
        evaluation=evaluation,
        valid_metrics=discrimination(y_valid, valid_pd),
        train_metrics=discrimination(y_train, predict_pd(booster, x_train)),
        test_pd=test_pd,
        config=config,
        targets=targets,
    )


def reference_frame(trained: TrainedModel) -> pd.DataFrame:
    """The drift reference: the out-of-time windows (validation + test), scored by this model.

    Model features are the values the booster sees (categoricals as level codes), so the drift
    job compares like with like.
    """
    frame = pd.concat([trained.split.valid, trained.split.test], ignore_index=True)
    matrix = Split.matrix(frame)
    pd_ = predict_pd(trained.booster, matrix)
    score = np.asarray(trained.policy.scale.score(pd_))
    out = pd.DataFrame(matrix.astype(np.float64), columns=feature_names())
    out["pd"] = pd_
    out["score"] = score
    out["decision"] = [d.value for d in trained.policy.decide(score)]
    out[LABEL] = frame[LABEL].to_numpy()
    out[TIME_COLUMN] = frame[TIME_COLUMN].to_numpy()
    out["marital"] = frame["marital"].astype("object").to_numpy()
    return out[REFERENCE_COLUMNS]


def _artifact_writer(
    trained: TrainedModel, model_name: str, summary: dict[str, object]
) -> Callable[[Path], Sequence[Path]]:
    def write(root: Path) -> Sequence[Path]:
        ev = trained.evaluation
        test = trained.split.test
        y = Split.labels(test)
        score = np.asarray(trained.policy.scale.score(trained.test_pd))
        plots = write_plots(
            root / "plots", y, trained.test_pd, score, ev.metrics, ev.calibration, trained.policy
        )
        reports = root / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        ev.calibration.to_csv(reports / "calibration_by_band.csv", index=False)
        for name, table in ev.fairness.items():
            table.to_csv(reports / f"fairness_{name}.csv", index=False)
        report = write_report(
            reports / "training_report.html",
            model_name=model_name,
            summary=summary,
            metrics=ev.metrics,
            calibration=ev.calibration,
            fairness=ev.fairness,
            policy=trained.policy,
            plots=plots,
        )
        reference = root / "reference"
        reference.mkdir(parents=True, exist_ok=True)
        reference_frame(trained).to_parquet(reference / "reference.parquet", index=False)
        return [*plots, report, reference / "reference.parquet"]

    return write


def train_and_register(
    store: FeatureStore,
    applications: pd.DataFrame,
    *,
    tracking_uri: str,
    model_name: str = MODEL_NAME,
    experiment: str = EXPERIMENT,
    config: ModelConfig | None = None,
    targets: PolicyTargets | None = None,
    progress: Progress = _noop,
    run_name: str | None = None,
) -> TrainingResult:
    """Build the point-in-time training set, train, evaluate, log and register a new version."""
    started = time.monotonic()
    config = config or ModelConfig()
    targets = targets or PolicyTargets()
    progress("features")
    frame = training_frame(store, applications)
    trained = fit_model(frame, config, targets, progress)
    split = trained.split
    rows = {"train": len(split.train), "valid": len(split.valid), "test": len(split.test)}
    summary: dict[str, object] = {
        "feature service": FEATURE_SERVICE,
        "applications": len(frame),
        "train window": f"{split.train[TIME_COLUMN].min()} .. {split.valid_start}",
        "validation window": f"{split.valid_start} .. {split.test_start}",
        "test window": f"{split.test_start} .. {split.test[TIME_COLUMN].max()}",
        "rows (train/valid/test)": f"{rows['train']}/{rows['valid']}/{rows['test']}",
        "best iteration": trained.best_iteration,
    }
    params: dict[str, Any] = {
        **config.as_dict(),
        **{f"policy_{k}": v for k, v in targets.as_dict().items()},
        "feature_service": FEATURE_SERVICE,
        "rows_train": rows["train"],
        "rows_valid": rows["valid"],
        "rows_test": rows["test"],
        "valid_start": split.valid_start.isoformat(),
        "test_start": split.test_start.isoformat(),
    }
    progress("artifacts")
    x_test = Split.matrix(split.test)
    registered = log_and_register(
        tracking_uri=tracking_uri,
        experiment=experiment,
        model_name=model_name,
        booster=trained.booster,
        policy=trained.policy,
        params=params,
        metrics=trained.metrics(),
        example=x_test[:5],
        example_pd=trained.test_pd[:5],
        write_artifacts=_artifact_writer(trained, model_name, summary),
        run_name=run_name or f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={"feature_service": FEATURE_SERVICE},
        progress=progress,
    )
    calibration = trained.evaluation.calibration.to_dict(orient="records")
    return TrainingResult(
        registered=registered,
        test_metrics=dict(trained.evaluation.metrics),
        policy=trained.policy,
        rows=rows,
        best_iteration=trained.best_iteration,
        seconds=time.monotonic() - started,
        calibration=[
            {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}
            for r in calibration
        ],
    )

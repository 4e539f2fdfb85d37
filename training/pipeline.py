"""Training end to end: Feast training set -> LDA search -> evaluation -> MLflow -> registration gate.

``train_and_register`` is what ``credit-scoring train`` runs, and what tests call to put a
(new) version into a registry. Steps report progress through an optional callback so the CLI
can show it without this module knowing about terminals:

1. the point-in-time training set from Feast, split by (synthetic) application time;
2. the less-discriminatory-alternative search (``training.search``): every candidate fitted,
   given its own policy on validation, compared with the baseline; a winner by a stated rule;
3. the winner evaluated on the out-of-time test window; its reasons' stability across seeds;
4. the run logged to MLflow (candidates as nested runs), the version registered with its lineage;
5. the registration gate (``governance.gate``) on the registered version, the Regulation B age
   check included; ``challenger`` (and ``champion`` when none exists) only if it passes;
6. the evidence, the training report and the model card logged with the version.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb

from credit_scoring.features import FEATURE_SERVICE, LABEL, feature_names
from credit_scoring.policy import ScorePolicy
from governance.exception import FairnessException
from governance.gate import GateDecision
from training.calibration import CalibrationCheck, check_calibration
from training.dataset import TIME_COLUMN, Split, split_out_of_time, training_frame
from training.evaluation import Evaluation, discrimination, evaluate
from training.model import ModelConfig, fit, predict_pd
from training.policy import PolicyTargets, choose_policy
from training.search import SearchProgress, SearchResult, SearchSettings
from training.stability import ReasonStability

if TYPE_CHECKING:
    from feast import FeatureStore

    from training.registry import RegisteredModel

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
STEPS = ("features", "search", "evaluate", "stability", "artifacts", "model", "register", "gate", "card")
REFERENCE_COLUMNS = [*feature_names(), "pd", "score", "decision", LABEL, TIME_COLUMN, "age", "marital"]

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
    """The out-of-time test window."""
    valid_evaluation: Evaluation
    calibration: CalibrationCheck
    """The calibration gate's evidence on validation."""
    train_metrics: dict[str, float]
    test_pd: np.ndarray
    config: ModelConfig
    targets: PolicyTargets

    @property
    def valid_metrics(self) -> dict[str, float]:
        return self.valid_evaluation.metrics

    @property
    def best_iteration(self) -> int:
        return int(self.booster.attr("best_iteration") or self.booster.num_boosted_rounds() - 1)

    def metrics(self) -> dict[str, float]:
        """Everything logged to MLflow: ``test_*`` (the model's grades), ``valid_*``, ``train_*``."""
        out = {f"test_{k}": v for k, v in self.evaluation.metrics.items()}
        out |= {f"valid_{k}": v for k, v in self.valid_metrics.items()}
        out |= {f"train_{k}": v for k, v in self.train_metrics.items()}
        out["best_iteration"] = float(self.best_iteration)
        out["trees"] = float(self.booster.num_boosted_rounds())
        out["valid_hosmer_lemeshow_p"] = self.calibration.hl_p
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
    gate: GateDecision
    search: dict[str, Any]
    search_table: pd.DataFrame
    fairness: dict[str, pd.DataFrame]
    """Test-window fairness tables per audit attribute (both favourable outcomes)."""
    stability: ReasonStability
    model_card: Path | None
    calibration: list[dict[str, Any]] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.registered.version

    @property
    def accepted(self) -> bool:
        return self.gate.accepted

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
            "gate": self.gate.as_dict(),
            "search": self.search,
            "reason_stability": self.stability.as_dict(),
            "model_card": None if self.model_card is None else str(self.model_card),
            "seconds": round(self.seconds, 2),
        }


def _trained(
    booster: xgb.Booster,
    split: Split,
    config: ModelConfig,
    targets: PolicyTargets,
    policy: ScorePolicy | None,
) -> TrainedModel:
    y_valid, y_test = Split.labels(split.valid), Split.labels(split.test)
    x_valid, x_test = Split.matrix(split.valid), Split.matrix(split.test)
    valid_pd = predict_pd(booster, x_valid)
    policy = policy or choose_policy(valid_pd, y_valid, targets)
    valid_score = np.asarray(policy.scale.score(valid_pd))
    test_pd = predict_pd(booster, x_test)
    test_score = np.asarray(policy.scale.score(test_pd))
    return TrainedModel(
        booster=booster,
        split=split,
        policy=policy,
        evaluation=evaluate(split.test, y_test, test_pd, test_score, policy.decide(test_score), policy),
        valid_evaluation=evaluate(
            split.valid, y_valid, valid_pd, valid_score, policy.decide(valid_score), policy
        ),
        calibration=check_calibration(y_valid, valid_pd, valid_score, policy),
        train_metrics=discrimination(
            Split.labels(split.train), predict_pd(booster, Split.matrix(split.train))
        ),
        test_pd=test_pd,
        config=config,
        targets=targets,
    )


def fit_model(
    frame: pd.DataFrame, config: ModelConfig, targets: PolicyTargets, progress: Progress = _noop
) -> TrainedModel:
    """One configuration, no search: split out of time, fit, policy on validation, evaluate."""
    split = split_out_of_time(frame)
    progress("fit")
    booster = fit(
        Split.matrix(split.train),
        Split.labels(split.train),
        Split.matrix(split.valid),
        Split.labels(split.valid),
        config,
    )
    progress("evaluate")
    return _trained(booster, split, config, targets, None)


def search_and_fit(
    frame: pd.DataFrame,
    config: ModelConfig,
    targets: PolicyTargets,
    settings: SearchSettings,
    progress: Progress = _noop,
    search_progress: SearchProgress | None = None,
) -> tuple[TrainedModel, SearchResult]:
    """The LDA search over ``frame``'s out-of-time split; the winner, evaluated."""
    from training.search import search

    split = split_out_of_time(frame)
    progress("search")
    result = search(split, config, targets, settings, search_progress)
    progress("evaluate")
    winner = result.winner
    return _trained(winner.booster, split, winner.config, targets, winner.policy), result


def reference_frame(trained: TrainedModel) -> pd.DataFrame:
    """The drift reference: the out-of-time windows (validation + test), scored by this model.

    Model features are the values the booster sees (categoricals as level codes), so the drift
    job compares like with like; ``age`` and ``marital`` are the audit attributes.
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
    out["age"] = pd.to_numeric(frame["age"], errors="coerce").to_numpy(dtype=np.float64)
    out["marital"] = frame["marital"].astype("object").to_numpy()
    return out[REFERENCE_COLUMNS]


def train_and_register(
    store: FeatureStore,
    applications: pd.DataFrame,
    *,
    tracking_uri: str,
    model_name: str = MODEL_NAME,
    experiment: str = EXPERIMENT,
    config: ModelConfig | None = None,
    targets: PolicyTargets | None = None,
    search: SearchSettings | None = None,
    exception: FairnessException | None = None,
    progress: Progress = _noop,
    search_progress: SearchProgress | None = None,
    run_name: str | None = None,
    source_files: list[Path] | None = None,
    card_dir: Path | None = None,
    today: dt.date | None = None,
) -> TrainingResult:
    """Build the training set, search, evaluate, log, register, gate and document a new version.

    The version is always registered; it gets ``challenger`` (and ``champion`` when none exists)
    only when the registration gate accepts it (``result.accepted``).
    """
    from governance.lineage import lineage
    from training.release import govern_and_document, log_training_run
    from training.stability import reason_stability

    started = time.monotonic()
    config = config or ModelConfig()
    targets = targets or PolicyTargets()
    settings = search or SearchSettings()
    progress("features")
    frame = training_frame(store, applications)
    trained, searched = search_and_fit(frame, config, targets, settings, progress, search_progress)
    progress("stability")
    stability = reason_stability(trained.booster, trained.policy, trained.config, trained.split)
    found = lineage(frame, source_files)
    with tempfile.TemporaryDirectory(prefix="credit-train-") as tmp:
        registered = log_training_run(
            trained,
            searched,
            stability,
            found,
            tracking_uri=tracking_uri,
            experiment=experiment,
            model_name=model_name,
            run_name=run_name or f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            workdir=Path(tmp),
            progress=progress,
        )
        registered, decision, card = govern_and_document(
            trained,
            searched,
            stability,
            registered,
            store=store,
            tracking_uri=tracking_uri,
            exception=exception,
            workdir=Path(tmp),
            card_dir=card_dir,
            progress=progress,
            lineage=found,
            today=today,
        )
    split = trained.split
    return TrainingResult(
        registered=registered,
        test_metrics=dict(trained.evaluation.metrics),
        policy=trained.policy,
        rows={"train": len(split.train), "valid": len(split.valid), "test": len(split.test)},
        best_iteration=trained.best_iteration,
        seconds=time.monotonic() - started,
        gate=decision,
        search=searched.summary(),
        search_table=searched.table(),
        fairness=trained.evaluation.fairness,
        stability=stability,
        model_card=card,
        calibration=[
            {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in r.items()}
            for r in trained.evaluation.calibration.to_dict(orient="records")
        ],
    )

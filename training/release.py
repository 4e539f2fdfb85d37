"""From a trained winner to a registered, gated, documented version.

``log_training_run`` logs the run (params, metrics, plots, tables, the drift reference, every
search candidate as a nested run, the model) and registers the version with its lineage, no
alias yet. ``govern_and_document`` then runs the registration gate on the *registered* version
(the Regulation B age check loads it from the registry), logs the evidence, the training report
and the model card with it, and moves the aliases only if the gate accepts it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from credit_scoring.audit import adverse_impact, min_air
from credit_scoring.features import FEATURE_SERVICE
from governance.age_check import check_age
from governance.exception import FairnessException
from governance.gate import GateDecision, GateEvidence, decide
from governance.lineage import Lineage
from governance.model_card import CARD_ARTIFACT_STEM, model_card
from governance.version import VersionScorer, version_matrix
from training.dataset import TIME_COLUMN, Split
from training.evaluation import AUDITS, audit_groups, favourable
from training.evidence import build_evidence
from training.plots import write_plots
from training.registry import (
    ChildRun,
    RegisteredModel,
    apply_gate,
    champion_version,
    log_artifacts,
    log_run,
    register,
    tag_version,
)
from training.report import write_report

if TYPE_CHECKING:
    from training.pipeline import TrainedModel
    from training.search import SearchResult
    from training.stability import ReasonStability

__all__ = ["AGE_CHECK_APPLICANTS", "govern_and_document", "log_training_run"]

AGE_CHECK_APPLICANTS = 400
"""Applicants (from validation and test) the age check moves across every age."""

Progress = Callable[[str], None]


def _params(trained: TrainedModel, searched: SearchResult) -> dict[str, Any]:
    split = trained.split
    s = searched.settings
    return {
        **trained.config.as_dict(),
        **{f"policy_{k}": v for k, v in trained.targets.as_dict().items()},
        "feature_service": FEATURE_SERVICE,
        "rows_train": len(split.train),
        "rows_valid": len(split.valid),
        "rows_test": len(split.test),
        "valid_start": split.valid_start.isoformat(),
        "test_start": split.test_start.isoformat(),
        "search_size": s.size,
        "search_auc_tolerance": s.auc_tolerance,
        "search_bootstrap_replicates": s.bootstrap_replicates,
        "search_seed": s.seed,
        "search_winner": searched.winner.name,
    }


def _children(searched: SearchResult) -> list[ChildRun]:
    out = []
    for row in searched.table().to_dict(orient="records"):
        numbers = {
            k: float(v)
            for k, v in row.items()
            if isinstance(v, int | float | np.number) and not isinstance(v, bool) and k != "candidate"
        }
        out.append(
            ChildRun(
                name=f"candidate {row['candidate']}: {row['name']}",
                params={k: row[k] for k in ("dropped", "max_depth", "min_child_weight", "interactions")},
                metrics=numbers,
                tags={
                    "winner": str(bool(row["winner"])).lower(),
                    "eligible": str(bool(row["eligible"])).lower(),
                },
            )
        )
    return out


def _write_tables(trained: TrainedModel, searched: SearchResult, root: Path) -> list[Path]:
    from training.pipeline import reference_frame

    ev = trained.evaluation
    y = Split.labels(trained.split.test)
    score = np.asarray(trained.policy.scale.score(trained.test_pd))
    plots = write_plots(root / "plots", y, trained.test_pd, score, ev.metrics, ev.calibration, trained.policy)
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    ev.calibration.to_csv(reports / "calibration_by_band.csv", index=False)
    for name, table in ev.fairness.items():
        table.to_csv(reports / f"fairness_{name}.csv", index=False)
    for name, table in ev.calibration_by_group.items():
        table.to_csv(reports / f"calibration_by_{name}.csv", index=False)
    governance = root / "evidence"
    governance.mkdir(parents=True, exist_ok=True)
    searched.table().to_csv(governance / "search.csv", index=False)
    reference = root / "reference"
    reference.mkdir(parents=True, exist_ok=True)
    reference_frame(trained).to_parquet(reference / "reference.parquet", index=False)
    return plots


def log_training_run(
    trained: TrainedModel,
    searched: SearchResult,
    stability: ReasonStability,
    lineage: Lineage,
    *,
    tracking_uri: str,
    experiment: str,
    model_name: str,
    run_name: str,
    workdir: Path,
    progress: Progress,
) -> RegisteredModel:
    progress("artifacts")
    root = workdir / "run"
    root.mkdir(parents=True, exist_ok=True)
    _write_tables(trained, searched, root)
    metrics = {
        **trained.metrics(),
        "search_evaluated": float(len(searched.candidates)),
        "search_eligible": float(sum(c.eligible for c in searched.candidates)),
        "reason_stability": stability.agreement,
    }
    x_test = Split.matrix(trained.split.test)
    logged = log_run(
        tracking_uri=tracking_uri,
        experiment=experiment,
        booster=trained.booster,
        policy=trained.policy,
        params=_params(trained, searched),
        metrics=metrics,
        example=x_test[:5],
        example_pd=trained.test_pd[:5],
        artifacts=root,
        run_name=run_name,
        children=_children(searched),
        tags={"feature_service": FEATURE_SERVICE, **lineage.as_tags()},
        progress=progress,
    )
    progress("register")
    return register(tracking_uri, model_name, logged, trained.policy, lineage.as_tags())


def _champion(tracking_uri: str, registered: RegisteredModel, valid: pd.DataFrame) -> dict[str, Any] | None:
    """The champion's minimum AIR of approvals on this validation window (its own inputs and policy)."""
    from mlflow import MlflowClient

    version = champion_version(MlflowClient(tracking_uri=tracking_uri), registered.name)
    if version is None or version == registered.version:
        return None
    scorer = VersionScorer.load(tracking_uri, registered.name, version)
    columns = {c: valid[c].tolist() for c in valid.columns}
    scores = np.asarray(
        scorer.policy.scale.score_from_margin(
            scorer.margin(version_matrix(columns, scorer.feature_names, len(valid)))
        )
    )
    approved = favourable(scorer.policy.decide(scores))["approve"]
    groups = audit_groups(valid)
    by = {a: min_air(adverse_impact(groups[a], approved)) for a in AUDITS}
    return {"version": version, "min_air": float(np.nanmin(list(by.values()))), "air_by_attribute": by}


def _age_applicants(split: Split) -> pd.DataFrame:
    frame = pd.concat([split.valid, split.test], ignore_index=True)
    if len(frame) > AGE_CHECK_APPLICANTS:
        frame = frame.sample(n=AGE_CHECK_APPLICANTS, random_state=0)
    return frame.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)


def govern_and_document(
    trained: TrainedModel,
    searched: SearchResult,
    stability: ReasonStability,
    registered: RegisteredModel,
    *,
    store: Any,
    tracking_uri: str,
    exception: FairnessException | None,
    workdir: Path,
    card_dir: Path | None,
    progress: Progress,
    lineage: Lineage,
    today: dt.date | None = None,
) -> tuple[RegisteredModel, GateDecision, Path | None]:
    progress("gate")
    champion = _champion(tracking_uri, registered, trained.split.valid)
    scorer = VersionScorer.load(tracking_uri, registered.name, registered.version)
    age = check_age(scorer, store, _age_applicants(trained.split))
    valid = trained.valid_metrics
    evidence = GateEvidence(
        model_name=registered.name,
        version=registered.version,
        min_air=float(valid["air_min"]),
        air_by_attribute={a: float(valid[f"air_min_{a}"]) for a in AUDITS},
        champion_version=None if champion is None else champion["version"],
        champion_min_air=None if champion is None else champion["min_air"],
        calibration_problems=list(trained.calibration.problems),
        hosmer_lemeshow_p=trained.calibration.hl_p,
        age_check=age,
        stability=stability.agreement,
        stability_threshold=stability.threshold,
    )
    decision = decide(evidence, exception, today)
    doc = build_evidence(
        trained=trained,
        searched=searched,
        stability=stability,
        lineage=lineage,
        registered=registered,
        champion=champion,
        age_check=age,
        decision=decision,
        exception=exception,
    )
    progress("card")
    root = workdir / "governed"
    (root / "evidence").mkdir(parents=True, exist_ok=True)
    (root / "evidence" / "evidence.json").write_text(json.dumps(_clean(doc), indent=2), encoding="utf-8")
    (root / "evidence" / "gate.json").write_text(json.dumps(decision.as_dict(), indent=2, default=str))
    if decision.exception_applied and exception is not None:
        (root / "evidence" / "fairness_exception.yaml").write_text(
            yaml.safe_dump(exception.as_dict(), sort_keys=False), encoding="utf-8"
        )
    plots = sorted((workdir / "run" / "plots").glob("*.png"))
    write_report(
        root / "reports" / "training_report.html",
        evidence=doc,
        summary={
            "model": f"{registered.name} v{registered.version}",
            "run": registered.run_id,
            "feature service": FEATURE_SERVICE,
            "search winner": searched.winner.name,
            "best iteration": trained.best_iteration,
            "registration gate": decision.status,
        },
        plots=plots,
    )
    log_artifacts(tracking_uri, registered.run_id, root)
    tags = {
        "gate_status": decision.status,
        FAIRNESS_GATE_TAG: json.dumps(_fairness_verdict(decision, evidence)),
        "regulation_b_age_check": "passed" if age.passed else "failed",
        "reason_stability": f"{stability.agreement:.4f}",
        "search_winner": searched.winner.name,
    }
    if decision.exception_applied and exception is not None:
        tags.update(exception.as_tags())
    tag_version(tracking_uri, registered.name, registered.version, tags)
    gated = apply_gate(tracking_uri, registered, decision.accepted)
    card = model_card(tracking_uri, registered.name, registered.version)
    card_root = workdir / "card" / "model_card"
    card.write(card_root, Path(CARD_ARTIFACT_STEM).name)
    log_artifacts(tracking_uri, registered.run_id, card_root.parent)
    local = None
    if card_dir is not None:
        local, _ = card.write(card_dir)
    return gated, decision, local


FAIRNESS_GATE_TAG = "fairness_gate"
"""The fairness part of the gate as JSON (``status``: passed | exception | failed), the verdict a
promotion requires (``promotion.evidence``)."""


def _fairness_verdict(decision: GateDecision, evidence: GateEvidence) -> dict[str, Any]:
    checks = [c for c in decision.checks if c.waivable]
    if all(c.passed for c in checks):
        status = "passed"
    elif decision.exception_applied:
        status = "exception"
    else:
        status = "failed"
    verdict: dict[str, Any] = {
        "status": status,
        "min_air": round(evidence.min_air, 6),
        "air_by_attribute": {k: round(v, 6) for k, v in evidence.air_by_attribute.items()},
        "registration_gate": decision.status,
    }
    if decision.exception_applied and decision.exception is not None:
        verdict["exception"] = {
            "signer": decision.exception.signer,
            "air_floor": decision.exception.air_floor,
            "expiry": decision.exception.expiry.isoformat(),
        }
    return verdict


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has neither), numpy scalars plain values."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)

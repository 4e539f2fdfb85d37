"""The search for a less discriminatory alternative (LDA), run by every ``credit-scoring train``.

Models of nearly equal accuracy can differ widely in adverse impact, so training does not stop
at one configuration: it fits a documented set of candidates, each under its own policy chosen
on validation, and picks by a stated rule that weighs accuracy against fairness.

**Candidate set** (``candidate_set``; the baseline, the contract's model, comes first):

- features dropped: none; ``seniority``; ``home``; both. The inputs most tied to age: years
  with the employer grow with age, living with parents is mostly the young.
- ``max_depth``: 3, 2. Shallower trees interact less; serving explains depth <= 3 exactly.
- ``min_child_weight``: 5, 25. Larger leaves smooth the score over small groups.
- interactions: allowed; none (additive). An additive model treats every input on its own.

Every candidate keeps the contract's monotone constraints, so every cited reason stays true.
``size`` candidates are evaluated: the baseline plus ``size - 1`` drawn from the rest with a
seeded generator (all of them when ``size`` covers the set).

**Selection rule** (validation window only; the test window is reported, never used):

1. eligible: passes the calibration gate on validation (``training.calibration``), loses at
   most ``auc_tolerance`` AUC against the baseline, and has at most ``max_trees`` trees (serving
   explains every tree per request: the benchmark floors were measured on a 239-tree model);
2. the eligible candidate with the highest minimum AIR of approvals (age band and marital
   status) wins; ties go to the higher AUC, then to the earlier candidate;
3. if no candidate is eligible the most accurate one is kept and the registration gate decides.

For every candidate the AUC and minimum-AIR differences against the baseline come with paired
bootstrap 95% intervals (``training.bootstrap``), so the report shows whether a gain is real.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from credit_scoring.policy import ScorePolicy
from training.bootstrap import PairedDifferences, paired_bootstrap
from training.calibration import CalibrationCheck, check_calibration
from training.dataset import Split
from training.evaluation import Evaluation, audit_groups, evaluate, favourable
from training.model import MAX_DEPTH, ModelConfig, fit, predict_pd
from training.policy import PolicyTargets, choose_policy

__all__ = [
    "FEATURE_SUBSETS",
    "Candidate",
    "CandidateResult",
    "SearchResult",
    "SearchSettings",
    "candidate_set",
    "search",
]

FEATURE_SUBSETS: tuple[tuple[str, ...], ...] = ((), ("seniority",), ("home",), ("seniority", "home"))
DEPTHS = (3, 2)
CHILD_WEIGHTS = (5.0, 25.0)
INTERACTIONS = (True, False)

SearchProgress = Callable[[int, int, str], None]
"""Called before each candidate: (index from 1, how many, candidate name)."""


@dataclass(frozen=True)
class SearchSettings:
    size: int = 32
    """Candidates evaluated (baseline included); the full set has 32."""
    auc_tolerance: float = 0.010
    """Most validation AUC a candidate may lose against the baseline and still be eligible."""
    max_trees: int = 250
    """Most trees an eligible candidate may have (serving's explanation cost grows with them)."""
    bootstrap_replicates: int = 500
    seed: int = 0
    """Draws the candidates (when ``size`` is below the set) and the bootstrap replicates."""

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("the search needs at least one candidate (the baseline)")


@dataclass(frozen=True)
class Candidate:
    dropped: tuple[str, ...] = ()
    max_depth: int = 3
    min_child_weight: float = 5.0
    interactions: bool = True

    @property
    def name(self) -> str:
        features = "-" + "-".join(self.dropped) if self.dropped else "all features"
        shape = f"depth {self.max_depth}, child weight {self.min_child_weight:g}"
        return f"{features}, {shape}{'' if self.interactions else ', additive'}"

    def config(self, base: ModelConfig) -> ModelConfig:
        return dataclasses.replace(
            base,
            dropped=self.dropped,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            interactions=self.interactions,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "dropped": ",".join(self.dropped) or "none",
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "interactions": "allowed" if self.interactions else "none",
        }


def candidate_set(base: ModelConfig) -> list[Candidate]:
    """Every candidate, the baseline (``base``'s own shape, all features) first."""
    if not 1 <= base.max_depth <= MAX_DEPTH:
        raise ValueError(f"max_depth must be 1..{MAX_DEPTH} (serving's TreeSHAP tables): {base.max_depth}")
    baseline = Candidate((), base.max_depth, base.min_child_weight, base.interactions)
    grid = [
        Candidate(dropped, depth, weight, interactions)
        for dropped in FEATURE_SUBSETS
        for depth in DEPTHS
        for weight in CHILD_WEIGHTS
        for interactions in INTERACTIONS
    ]
    return [baseline, *(c for c in grid if c != baseline)]


def _chosen(candidates: list[Candidate], size: int, seed: int) -> list[Candidate]:
    if size >= len(candidates):
        return candidates
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(np.arange(1, len(candidates)), size=size - 1, replace=False).tolist())
    return [candidates[0], *(candidates[i] for i in picked)]


@dataclass
class CandidateResult:
    """One fitted candidate and its validation evidence (plus the test window, for the record)."""

    index: int
    candidate: Candidate
    config: ModelConfig
    booster: xgb.Booster
    policy: ScorePolicy
    valid_pd: np.ndarray
    valid: Evaluation
    test: Evaluation
    calibration: CalibrationCheck
    versus_baseline: PairedDifferences | None = None
    eligible: bool = False
    why_not: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def trees(self) -> int:
        return int(self.booster.num_boosted_rounds())

    def row(self) -> dict[str, Any]:
        """The search table's row (validation decides; test is shown, not used)."""
        v, t = self.valid.metrics, self.test.metrics
        vs = self.versus_baseline
        return {
            "candidate": self.index,
            "name": self.name,
            **self.candidate.as_dict(),
            "trees": self.trees,
            "valid_auc": v["auc"],
            "valid_air_min": v["air_min"],
            "valid_air_min_age_band": v["air_min_age_band"],
            "valid_air_min_marital": v["air_min_marital"],
            "valid_air_aor_min": v["air_aor_min"],
            "valid_approval_rate": v["approval_rate"],
            "calibration_passed": self.calibration.passed,
            "hosmer_lemeshow_p": self.calibration.hl_p,
            "d_auc": vs.auc.estimate if vs else math.nan,
            "d_auc_low": vs.auc.low if vs else math.nan,
            "d_auc_high": vs.auc.high if vs else math.nan,
            "d_air": vs.air_approve.estimate if vs else math.nan,
            "d_air_low": vs.air_approve.low if vs else math.nan,
            "d_air_high": vs.air_approve.high if vs else math.nan,
            "d_air_aor": vs.air_approve_or_refer.estimate if vs else math.nan,
            "d_air_aor_low": vs.air_approve_or_refer.low if vs else math.nan,
            "d_air_aor_high": vs.air_approve_or_refer.high if vs else math.nan,
            "eligible": self.eligible,
            "why_not": "; ".join(self.why_not),
            "test_auc": t["auc"],
            "test_air_min": t["air_min"],
        }


@dataclass
class SearchResult:
    candidates: list[CandidateResult]
    winner: CandidateResult
    settings: SearchSettings
    why: str
    set_size: int

    @property
    def baseline(self) -> CandidateResult:
        return self.candidates[0]

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame([c.row() for c in self.candidates])
        frame.insert(2, "winner", [c is self.winner for c in self.candidates])
        return frame

    def summary(self) -> dict[str, Any]:
        w, b = self.winner, self.baseline
        return {
            "evaluated": len(self.candidates),
            "candidate_set": self.set_size,
            "eligible": sum(c.eligible for c in self.candidates),
            "winner": w.name,
            "winner_index": w.index,
            "baseline_valid_auc": b.valid.metrics["auc"],
            "baseline_valid_air_min": b.valid.metrics["air_min"],
            "winner_valid_auc": w.valid.metrics["auc"],
            "winner_valid_air_min": w.valid.metrics["air_min"],
            "auc_tolerance": self.settings.auc_tolerance,
            "max_trees": self.settings.max_trees,
            "why": self.why,
            "versus_baseline": w.versus_baseline.as_dict() if w.versus_baseline else None,
        }


def _evaluate_candidate(
    index: int,
    candidate: Candidate,
    base: ModelConfig,
    split: Split,
    matrices: dict[str, np.ndarray],
    targets: PolicyTargets,
) -> CandidateResult:
    config = candidate.config(base)
    y_valid, y_test = Split.labels(split.valid), Split.labels(split.test)
    booster = fit(matrices["train"], Split.labels(split.train), matrices["valid"], y_valid, config)
    valid_pd = predict_pd(booster, matrices["valid"])
    policy = choose_policy(valid_pd, y_valid, targets)
    valid_score = np.asarray(policy.scale.score(valid_pd))
    valid = evaluate(split.valid, y_valid, valid_pd, valid_score, policy.decide(valid_score), policy)
    test_pd = predict_pd(booster, matrices["test"])
    test_score = np.asarray(policy.scale.score(test_pd))
    test = evaluate(split.test, y_test, test_pd, test_score, policy.decide(test_score), policy)
    calibration = check_calibration(y_valid, valid_pd, valid_score, policy)
    return CandidateResult(index, candidate, config, booster, policy, valid_pd, valid, test, calibration)


def _select(results: list[CandidateResult], settings: SearchSettings) -> tuple[CandidateResult, str]:
    baseline = results[0]
    tolerance = settings.auc_tolerance
    floor = baseline.valid.metrics["auc"] - tolerance
    for r in results:
        r.why_not = []
        if not r.calibration.passed:
            r.why_not.append("fails the calibration gate on validation")
        if r.valid.metrics["auc"] < floor - 1e-12:
            r.why_not.append(f"validation AUC {r.valid.metrics['auc']:.4f} below {floor:.4f}")
        if r.trees > settings.max_trees:
            r.why_not.append(f"{r.trees} trees, more than {settings.max_trees}")
        r.eligible = not r.why_not
    eligible = [r for r in results if r.eligible]
    if not eligible:
        best = max(results, key=lambda r: r.valid.metrics["auc"])
        return best, (
            f"no candidate passes the calibration gate within {tolerance:.3f} AUC of the baseline "
            f"and {settings.max_trees} trees; "
            f"the most accurate one (#{best.index} {best.name}) is kept for the registration gate to judge"
        )

    def key(r: CandidateResult) -> tuple[float, float, int]:
        air = r.valid.metrics["air_min"]
        return (air if math.isfinite(air) else -1.0, r.valid.metrics["auc"], -r.index)

    winner = max(eligible, key=key)
    m, b = winner.valid.metrics, baseline.valid.metrics
    why = (
        f"#{winner.index} ({winner.name}) has the highest minimum AIR of approvals on validation "
        f"({m['air_min']:.3f}; baseline {b['air_min']:.3f}) among the {len(eligible)} of "
        f"{len(results)} candidates that pass the calibration gate, lose at most {tolerance:.3f} "
        f"AUC against the baseline and have at most {settings.max_trees} trees (its AUC "
        f"{m['auc']:.4f}; baseline {b['auc']:.4f}; {winner.trees} trees)"
    )
    vs = winner.versus_baseline
    if vs is not None and winner is not baseline:
        why += (
            f"; paired bootstrap 95% intervals: AIR {vs.air_approve.estimate:+.3f} "
            f"[{vs.air_approve.low:+.3f}, {vs.air_approve.high:+.3f}], AUC {vs.auc.estimate:+.4f} "
            f"[{vs.auc.low:+.4f}, {vs.auc.high:+.4f}]"
        )
    if winner is baseline:
        why += "; no alternative improves on the baseline's AIR, so the baseline stays"
    return winner, why + "."


def search(
    split: Split,
    base: ModelConfig,
    targets: PolicyTargets,
    settings: SearchSettings,
    progress: SearchProgress | None = None,
) -> SearchResult:
    """Fit and evaluate the chosen candidates, compare each with the baseline, pick the winner."""
    matrices = {name: Split.matrix(getattr(split, name)) for name in ("train", "valid", "test")}
    everything = candidate_set(base)
    chosen = _chosen(everything, settings.size, settings.seed)
    results: list[CandidateResult] = []
    for i, candidate in enumerate(chosen, start=1):
        if progress is not None:
            progress(i, len(chosen), candidate.name)
        results.append(_evaluate_candidate(i, candidate, base, split, matrices, targets))
    baseline = results[0]
    y_valid = Split.labels(split.valid)
    groups = audit_groups(split.valid)
    base_outcomes = favourable(baseline.policy.decide(baseline.policy.scale.score(baseline.valid_pd)))
    for r in results:
        r.versus_baseline = paired_bootstrap(
            y_valid,
            baseline.valid_pd,
            r.valid_pd,
            groups,
            base_outcomes,
            favourable(r.policy.decide(r.policy.scale.score(r.valid_pd))),
            replicates=settings.bootstrap_replicates,
            seed=settings.seed,
        )
    winner, why = _select(results, settings)
    return SearchResult(results, winner, settings, why, len(everything))

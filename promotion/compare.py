"""``credit-scoring compare``: champion vs challenger over a window of the inference log, with
both versions' registry evidence and realised performance where outcomes exist.

The figures come from ``monitoring.comparison`` (the same the drift job pushes and the gates
read) and realised performance from ``monitoring.performance`` (the drift job's definition, asked
per side over the window); this module gathers the inputs, renders JSON and HTML, and logs both
to MLflow.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from credit_scoring.errors import RegistryUnavailable
from inference_log import LOG_TABLE, Role
from monitoring.comparison import Comparison, compare
from monitoring.performance import realised_performance
from monitoring.window import Window, empty_window, load_window
from promotion.evidence import Registry, VersionEvidence

__all__ = ["ComparisonReport", "build_report", "log_report", "realised_by_side"]


@dataclass
class ComparisonReport:
    model_name: str
    start: datetime
    end: datetime
    champion: VersionEvidence
    challenger: VersionEvidence
    comparison: Comparison
    realised: dict[str, Any]
    window: Window
    """The records compared (for the plots; not part of the JSON)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "champion": self.champion.as_dict(),
            "challenger": self.challenger.as_dict(),
            "comparison": self.comparison.as_dict(),
            "realised_performance": self.realised,
        }

    def summary_lines(self) -> list[str]:
        """The comparison in a few lines (CLI output, promotion commit messages)."""
        c = self.comparison
        s = c.shadow

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}%"

        def num(x: float | None, fmt: str = ".3f") -> str:
            return "n/a" if x is None else format(x, fmt)

        champion_auc, challenger_auc = self.champion.metrics.get("auc"), self.challenger.metrics.get("auc")
        lines = [
            f"{self.model_name} v{c.champion_version} (champion) vs v{c.challenger_version} (challenger), "
            f"{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC, mode {c.mode}",
            f"offline AUC {num(champion_auc)} vs {num(challenger_auc)}; "
            f"records {c.champion.records} vs {c.challenger.records}",
            f"shadow pairs {s.pairs}: agreement {pct(s.decision_agreement)}, swap-in {s.swap_in} "
            f"({pct(s.swap_in_rate)}), swap-out {s.swap_out} ({pct(s.swap_out_rate)}), "
            f"score correlation {num(s.score_correlation)}, "
            f"mean score delta {num(s.mean_score_delta, '+.1f')}",
            f"split records {c.split.challenger_records}; approval-rate difference "
            f"{num(c.approval_rate_difference, '+.3f')}; score PSI {num(c.score_psi)}",
        ]
        if self.realised.get("status") == "ok":
            lines.append(
                "realised: "
                + "; ".join(
                    f"{role} AUC {num(self.realised[role].get('auc'))} on {self.realised[role]['records']}"
                    for role in ("champion", "challenger")
                    if role in self.realised
                )
            )
        else:
            lines.append(f"realised performance: {self.realised.get('reason', 'none')}")
        return lines


def _window(
    engine: sa.Engine,
    model_name: str,
    champion: str,
    challenger: str,
    start: datetime,
    end: datetime,
    limit: int,
) -> Window:
    if not sa.inspect(engine).has_table(LOG_TABLE.name):
        return empty_window(start, end)
    return load_window(engine, model_name, champion, start, end, limit, challenger_version=challenger)


def realised_by_side(
    engine: sa.Engine, model_name: str, versions: dict[str, str], start: datetime, end: datetime
) -> dict[str, Any]:
    """Per side (``versions``: role -> version): what its decisions of [start, end) turned out to
    be, over every outcome loaded so far (performance window 0: the comparison shows what is known
    now, the drift job waits for matured loans); ``no_outcomes`` while no record of the window
    has an outcome."""
    sides: dict[str, Any] = {}
    for role, version in versions.items():
        found = realised_performance(
            engine, model_name, version, window_days=0, min_matured=1, role=Role(role), start=start, end=end
        )
        sides[role] = {
            "version": version,
            "records": found.matured,
            "default_rate": found.default_rate,
            "approved_default_rate": found.approved_default_rate,
            "auc": found.auc,
            "ks": found.ks,
        }
    if not any(side["records"] for side in sides.values()):
        return {"status": "no_outcomes", "reason": "no outcome matches a record of the window"}
    return {"status": "ok", **sides}


def build_report(
    registry: Registry,
    engine: sa.Engine,
    *,
    champion_version: str,
    challenger_version: str,
    start: datetime,
    end: datetime,
    max_records: int,
    psi_bins: int = 10,
) -> ComparisonReport:
    champion = registry.evidence(champion_version)
    challenger = registry.evidence(challenger_version)
    window = _window(engine, registry.name, champion.version, challenger.version, start, end, max_records)
    comparison = compare(
        window.champion,
        window.challenger,
        champion_version=champion.version,
        challenger_version=challenger.version,
        psi_bins=psi_bins,
    )
    realised = realised_by_side(
        engine, registry.name, {"champion": champion.version, "challenger": challenger.version}, start, end
    )
    return ComparisonReport(registry.name, start, end, champion, challenger, comparison, realised, window)


def _flat_metrics(report: ComparisonReport) -> dict[str, float]:
    c = report.comparison
    figures = {
        "shadow_pairs": c.shadow.pairs,
        "split_records": c.split.challenger_records,
        "decision_agreement": c.shadow.decision_agreement,
        "decision_flip_rate": c.shadow.decision_flip_rate,
        "swap_in": c.shadow.swap_in,
        "swap_out": c.shadow.swap_out,
        "swap_in_rate": c.shadow.swap_in_rate,
        "swap_out_rate": c.shadow.swap_out_rate,
        "score_correlation": c.shadow.score_correlation,
        "mean_score_delta": c.shadow.mean_score_delta,
        "approval_rate_difference": c.approval_rate_difference,
        "score_psi": c.score_psi,
    }
    return {k: float(v) for k, v in figures.items() if v is not None}


def log_report(client: Any, experiment: str, report: ComparisonReport, html: str) -> str:
    """One MLflow run per comparison: key figures as metrics, JSON and HTML as artifacts."""
    from botocore.exceptions import BotoCoreError, ClientError
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    c = report.comparison
    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(
            experiment_id, run_name=f"{report.model_name}-v{c.champion_version}-vs-v{c.challenger_version}"
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in _flat_metrics(report).items()],
            params=[
                Param("model_name", report.model_name),
                Param("champion_version", c.champion_version),
                Param("challenger_version", c.challenger_version),
                Param("window_start", report.start.isoformat()),
                Param("window_end", report.end.isoformat()),
            ],
            tags=[RunTag("comparison_mode", c.mode)],
        )
        with tempfile.TemporaryDirectory(prefix="credit-compare-") as tmp:
            root = Path(tmp)
            (root / "comparison.json").write_text(json.dumps(report.as_dict(), indent=2, default=str))
            (root / "comparison.html").write_text(html, encoding="utf-8")
            client.log_artifacts(run_id, str(root), artifact_path="comparison")
        client.set_terminated(run_id, "FINISHED")
    except (MlflowException, OSError, BotoCoreError, ClientError) as exc:
        raise RegistryUnavailable(f"could not save the comparison report to MLflow: {exc}") from exc
    return str(run_id)


def frames(report: ComparisonReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    return report.window.champion, report.window.challenger

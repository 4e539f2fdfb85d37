"""A portfolio run end to end: model, features, engine, atomic output, metrics, summary.

``run(settings)`` is what ``credit-scoring batch-score`` and ``python -m batch`` call. The model
version is resolved once (an alias moving during the run changes nothing: every row carries the
version that scored it); the feature definitions come from the Feast registry; the engine
streams the portfolio; the files appear only when complete (``batch.output``); the metrics go to
the Pushgateway whether the run succeeds or fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from batch.answers import ANSWER_SCHEMA
from batch.chunks import ChunkContext, ChunkResult
from batch.features import ProfileSource, profile_source
from batch.inputs import PortfolioFile
from batch.local import LocalEngine, Tally
from batch.metrics import push_failure, push_quietly, push_success
from batch.output import AtomicParquet, all_or_nothing, clean_stale
from batch.scoring import ModelSpec, cpu_count, load_model
from batch.settings import BatchSettings
from batch.validation import REJECT_SCHEMA

__all__ = ["Interrupted", "Summary", "read_summary", "run"]

log = logging.getLogger(__name__)
Progress = Callable[[Tally], None]


class Interrupted(SystemExit):
    """SIGTERM (Kubernetes stopping the pod) or SIGINT: the run stops and writes nothing."""


@dataclass
class Summary:
    engine: str
    model: str
    model_version: str
    output: Path
    rejects: Path
    rows: int
    scored: int
    rejected: int
    thin_files: int
    seconds: float
    decisions: Counter[str] = field(default_factory=Counter)
    workers: int = 1
    scoring_seconds: float | None = None
    """From the first chunk read to the committed files (start-up and model loading excluded)."""
    metrics_error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "model_version": self.model_version,
            "rows": self.rows,
            "scored": self.scored,
            "rejected": self.rejected,
            "thin_files": self.thin_files,
            "decisions": dict(self.decisions),
            "seconds": round(self.seconds, 3),
            "scoring_seconds": None if self.scoring_seconds is None else round(self.scoring_seconds, 3),
            "rows_per_second": round(self.rate, 1),
            "output": str(self.output),
            "rejects": str(self.rejects),
            "workers": self.workers,
        }

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def read_summary(stdout: str) -> dict[str, Any]:
    """``Summary.as_json`` as the batch command printed it: the last JSON object with an ``engine``
    key in its output (Spark and libraries may print other lines around it)."""
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    for start in (i for i, ch in enumerate(stdout) if ch == "{"):
        try:
            value, _ = decoder.raw_decode(stdout, start)
        except ValueError:
            continue
        if isinstance(value, dict) and "engine" in value:
            found = value
    if found is None:
        raise ValueError(f"no run summary in the output: {stdout[-2000:]}")
    return found


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``Interrupted`` in the main thread so every output is aborted
    (a container's PID 1 would otherwise ignore SIGTERM)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _load(settings: BatchSettings) -> tuple[ModelSpec, ProfileSource]:
    from feature_store import open_store

    if not settings.mlflow_tracking_uri:
        # The embedded server is the command line's to start (cli/commands/batch_score.py).
        raise ValueError("no MLflow tracking URI: set MLFLOW_TRACKING_URI")
    started = time.monotonic()
    spec = load_model(settings.model_uri, settings.mlflow_tracking_uri)
    log.info("model %s version %s loaded in %.1fs", spec.name, spec.version, time.monotonic() - started)
    store = open_store(
        settings.resolved_feature_store_config, settings.resolved_feature_repo, settings.feast_env()
    )
    return spec, profile_source(store)


def run(settings: BatchSettings, progress: Progress | None = None) -> Summary:
    """Score the portfolio; raises on failure (after pushing the failure), writing nothing."""
    started = time.monotonic()
    try:
        with _signals_interrupt():
            summary = _run(settings, progress)
    except BaseException:
        if settings.pushgateway_url:
            push_quietly(
                push_failure,
                settings.pushgateway_url,
                settings.portfolio,
                seconds=time.monotonic() - started,
                max_age_seconds=settings.max_age_hours * 3600,
            )
        raise
    if settings.pushgateway_url:
        summary.metrics_error = push_quietly(
            push_success,
            settings.pushgateway_url,
            settings.portfolio,
            rows=summary.rows,
            scored=summary.scored,
            rejected=summary.rejected,
            thin_files=summary.thin_files,
            decisions=summary.decisions,
            seconds=summary.seconds,
            max_age_seconds=settings.max_age_hours * 3600,
            model_version=summary.model_version,
            engine=summary.engine,
        )
    return summary


def _run(settings: BatchSettings, progress: Progress | None) -> Summary:
    started = time.monotonic()
    portfolio = PortfolioFile.open(settings.input, need_timestamp=settings.as_of is None)
    for final in (settings.output, settings.resolved_rejects):
        for stale in clean_stale(final):
            log.warning("removed %s, left by an interrupted earlier run", stale)
    if settings.engine == "spark":
        from batch.spark import run_spark

        spec, source = _load(settings)
        return run_spark(settings, portfolio, spec, source, started)
    workers = settings.workers or cpu_count()
    with LocalEngine(workers) as engine:
        spec, source = _load(settings)
        context = ChunkContext(spec, source, settings.as_of, portfolio.format == "csv", settings.run_id)
        metadata = {"credit_scoring.run_id": settings.run_id, "credit_scoring.model_version": spec.version}
        answers = AtomicParquet(settings.output, ANSWER_SCHEMA, settings.run_id, metadata)
        rejects = AtomicParquet(settings.resolved_rejects, REJECT_SCHEMA, settings.run_id, metadata)
        with all_or_nothing(answers, rejects):

            def write(result: ChunkResult) -> None:
                answers.write(result.answers)
                rejects.write(result.rejects)

            scoring = time.monotonic()
            tally = engine.run(portfolio, context, settings.chunk_rows, write, progress)
            answers.close()
            rejects.close()
            rejects.commit()
            answers.commit()
            scoring = time.monotonic() - scoring
    return Summary(
        engine="local",
        model=f"{spec.name}@{spec.alias}" if spec.alias else spec.name,
        model_version=spec.version,
        output=settings.output,
        rejects=settings.resolved_rejects,
        rows=tally.rows,
        scored=tally.scored,
        rejected=tally.rejected,
        thin_files=tally.thin_files,
        seconds=time.monotonic() - started,
        decisions=tally.decisions,
        workers=workers,
        scoring_seconds=scoring,
    )

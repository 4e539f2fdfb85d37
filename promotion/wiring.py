"""What the three commands share: the MLflow client, the registry and the inference-log engine.

The commands (``cli/commands/{compare,promote,promotion_hook}.py``) parse options
and print; everything they run is here, so they move with the CLI package unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from inference_log import InferenceLogSettings, create_log_engine
from promotion.compare import ComparisonReport, build_report, log_report
from promotion.evidence import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Registry
from promotion.git import GitRepo
from promotion.report import render_html
from promotion.settings import PromotionSettings
from promotion.steps import PromotionRequest, PromotionResult, promote

__all__ = ["CompareOutput", "Context", "context", "run_compare", "run_hook", "run_promote"]


@dataclass
class Context:
    settings: PromotionSettings
    registry: Registry
    client: Any
    engine: sa.Engine | None


@contextlib.contextmanager
def context(settings: PromotionSettings, tracking_uri: str) -> Iterator[Context]:
    """MLflow at ``tracking_uri`` (the CLI resolves it: configured or embedded) and the log engine."""
    from mlflow import MlflowClient

    # The client's default of 7 retries takes minutes to report an outage.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    log_settings = InferenceLogSettings()
    engine = create_log_engine(log_settings.database_url(), log_settings.connect_timeout_seconds)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        yield Context(settings, Registry(client, settings.model_name), client, engine)
    finally:
        engine.dispose()


@dataclass
class CompareOutput:
    report: ComparisonReport
    html: str
    mlflow_run_id: str | None


def run_compare(
    ctx: Context,
    *,
    since: datetime | None,
    until: datetime | None,
    champion: str | None,
    challenger: str | None,
    log_to_mlflow: bool = True,
) -> CompareOutput:
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=ctx.settings.window_hours)
    champion = champion or ctx.registry.alias(CHAMPION)
    challenger = challenger or ctx.registry.alias(CHALLENGER)
    if champion is None or challenger is None:
        missing = [a for a, v in ((CHAMPION, champion), (CHALLENGER, challenger)) if v is None]
        raise LookupError(f"{ctx.settings.model_name} has no @{' / @'.join(missing)}: pass the version(s)")
    assert ctx.engine is not None
    with contextlib.redirect_stdout(sys.stderr):  # MLflow prints run links on stdout
        report = build_report(
            ctx.registry,
            ctx.engine,
            champion_version=champion,
            challenger_version=challenger,
            start=since,
            end=until,
            max_records=ctx.settings.max_records,
        )
        html = render_html(report)
        run_id = (
            log_report(ctx.client, ctx.settings.comparison_experiment, report, html)
            if log_to_mlflow
            else None
        )
    return CompareOutput(report, html, run_id)


def run_promote(ctx: Context, request: PromotionRequest, gitops_repo: Path) -> PromotionResult:
    repo = GitRepo.open(gitops_repo, ctx.settings.git_author_name, ctx.settings.git_author_email)
    with contextlib.redirect_stdout(sys.stderr):
        return promote(request, ctx.settings, ctx.registry, repo, ctx.engine)


def run_hook(ctx: Context, hook_settings: Any) -> None:
    """Serve the webhook endpoint until stopped (SIGTERM/SIGINT)."""
    import uvicorn

    from promotion.hook import build_app, git_env, prepare_clone

    # Every git command of this process (clone, fetch, push) sends the remote's auth header.
    os.environ.update(git_env(hook_settings))
    repo_dir = prepare_clone(hook_settings)
    settings = ctx.settings.model_copy(update={"remote": ctx.settings.remote or "origin"})
    repo = GitRepo.open(repo_dir, settings.git_author_name, settings.git_author_email)

    def run_step(request: PromotionRequest) -> PromotionResult:
        return promote(request, settings, ctx.registry, repo, ctx.engine)

    app = build_app(
        hook_settings, run_step, lambda: ctx.registry.alias(PREVIOUS_CHAMPION), settings.model_name
    )
    uvicorn.run(app, host=hook_settings.bind_address, port=hook_settings.port, log_level="info")

"""``credit-scoring promote shadow|split|champion|rollback``: one gated, reviewable, reversible step.

Git first: the base branch's values file (``promotion.values_file``) is the production state.
A step computes the state it wants, checks the gates (``promotion.gates``), commits the new
values file and its evidence on a new branch (pushed to the remote when one is configured), then
moves the MLflow aliases. Nothing reaches production before that branch is reviewed, merged and
synced by Argo CD; reverting the commit is a rollback.

Idempotent: a step whose target state is already on the base branch only makes the aliases agree
with Git (exit 0, ``already_done``); one already proposed on its branch does nothing more
(``already_proposed``). Branch names are derived from the step, the version and the new file's
digest, so running the same step twice, or the hook receiving the alias event a promotion itself
caused, can never make a second commit (the digest covers the new file and the commit that
last changed it, so the same change proposed after another promotion is a new branch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from credit_scoring.errors import CreditScoringError
from promotion.compare import ComparisonReport, build_report
from promotion.evidence import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Registry, VersionEvidence
from promotion.gates import (
    Gate,
    GateStatus,
    agreement_gates,
    governance_gates,
    live_gates,
    offline_gates,
    volume_gate,
)
from promotion.git import GitError, GitRepo, unified_diff
from promotion.live import PrometheusUnavailable, as_dict, live_figures
from promotion.settings import PromotionSettings
from promotion.values_file import Mode, PinnedState, ValuesFileError, parse_state, render_state

__all__ = ["Outcome", "PromotionRequest", "PromotionResult", "Step", "promote"]


class Step(StrEnum):
    SHADOW = "shadow"
    SPLIT = "split"
    CHAMPION = "champion"
    ROLLBACK = "rollback"


class Outcome(StrEnum):
    DONE = "done"
    WOULD_DO = "would_do"  # --dry-run, gates passed
    ALREADY_DONE = "already_done"
    ALREADY_PROPOSED = "already_proposed"
    REFUSED = "refused"


@dataclass(frozen=True)
class PromotionRequest:
    step: Step
    version: str | None = None
    percent: int | None = None
    dry_run: bool = False
    prometheus: str | None = None
    now: datetime | None = None


@dataclass
class PromotionResult:
    step: Step
    model: str
    outcome: Outcome
    reason: str
    version: str | None = None
    percent: int | None = None
    dry_run: bool = False
    before: PinnedState | None = None
    after: PinnedState | None = None
    gates: list[Gate] = field(default_factory=list)
    diff: str = ""
    branch: str | None = None
    commit: str | None = None
    pushed: bool = False
    aliases: dict[str, str | None] = field(default_factory=dict)
    aliases_moved: list[str] = field(default_factory=list)
    comparison: list[str] = field(default_factory=list)
    live: dict[str, Any] | None = None
    unavailable: bool = False
    """Refused because the registry, the log database or Git could not be reached (retry later)."""

    @property
    def changed(self) -> bool:
        return self.commit is not None or bool(self.aliases_moved)

    @property
    def exit_code(self) -> int:
        return 1 if self.outcome is Outcome.REFUSED else 0

    def as_dict(self) -> dict[str, Any]:
        def state(s: PinnedState | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                "champion": s.champion,
                "mode": s.mode.value,
                "percent": s.percent,
                "challenger": s.challenger,
            }

        return {
            "step": self.step.value,
            "model": self.model,
            "version": self.version,
            "percent": self.percent,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "before": state(self.before),
            "after": state(self.after),
            "gates": [g.as_dict() for g in self.gates],
            "diff": self.diff,
            "branch": self.branch,
            "commit": self.commit,
            "pushed": self.pushed,
            "aliases": self.aliases,
            "aliases_moved": self.aliases_moved,
            "comparison": self.comparison,
            "live": self.live,
            "unavailable": self.unavailable,
        }


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _target(step: Step, before: PinnedState, version: str, percent: int | None) -> PinnedState:
    if step in (Step.SHADOW, Step.SPLIT) and version == before.champion:
        raise _Refused(f"version {version} is the champion: a challenger must be another version")
    if step is Step.SHADOW:
        return before.with_challenger(Mode.SHADOW, version)
    if step is Step.SPLIT:
        assert percent is not None
        return before.with_challenger(Mode.SPLIT, version, percent)
    return before.without_challenger(champion=version)


def _aliases(step: Step, before: PinnedState, after: PinnedState) -> dict[str, str | None]:
    """The registry as it must be after the step (None: the alias is removed)."""
    if step in (Step.SHADOW, Step.SPLIT):
        return {CHALLENGER: after.challenger}
    planned: dict[str, str | None] = {CHAMPION: after.champion, CHALLENGER: None}
    if step is Step.CHAMPION and before.champion != after.champion:
        planned[PREVIOUS_CHAMPION] = before.champion
    return planned


def _branch(
    settings: PromotionSettings, step: Step, after: PinnedState, text: str, version: str, since: str
) -> str:
    """The same change proposed on the same state of the values file gets the same branch (so
    a repeated step is a no-op); once another promotion changed the file, it is a new proposal."""
    digest = hashlib.sha256(f"{since}\n{text}".encode()).hexdigest()[:8]
    share = f"-{after.percent}pct" if step is Step.SPLIT else ""
    return f"{settings.branch_prefix}/{after.model_name}-{step.value}-v{version}{share}-{digest}"


class _Promotion:
    def __init__(
        self,
        request: PromotionRequest,
        settings: PromotionSettings,
        registry: Registry,
        repo: GitRepo,
        engine: sa.Engine | None,
    ) -> None:
        self.request = request
        self.s = settings
        self.registry = registry
        self.repo = repo
        self.engine = engine
        self.result = PromotionResult(
            request.step,
            settings.model_name,
            Outcome.REFUSED,
            "",
            percent=request.percent,
            dry_run=request.dry_run,
        )
        self.report: ComparisonReport | None = None
        self._evidence: dict[str, VersionEvidence] = {}

    def evidence(self, version: str) -> VersionEvidence:
        if version not in self._evidence:
            self._evidence[version] = self.registry.evidence(version)
        return self._evidence[version]

    # ------------------------------------------------------------------ the step
    def run(self) -> PromotionResult:
        r, s = self.result, self.s
        dirty = self.repo.dirty()
        if dirty:
            raise _Refused(
                f"the work tree of {self.repo.root} has uncommitted changes: {'; '.join(dirty[:5])}"
            )
        base = self._base()
        before_text = self.repo.read(base, s.values_file)
        if before_text is None:
            raise _Refused(f"{s.values_file} does not exist on {base}")
        try:
            r.before = parse_state(before_text, s.model_name)
        except ValuesFileError as exc:
            raise _Refused(f"{s.values_file} on {base}: {exc}") from exc
        r.version = self._version()
        r.after = _target(r.step, r.before, r.version, self.request.percent)
        after_text = render_state(r.after)
        r.aliases = _aliases(r.step, r.before, r.after)
        git_done = r.after == r.before
        if not git_done:
            r.diff = unified_diff(before_text, after_text, s.values_file)
        if git_done:
            # Git already says so: the registry follows Git (no gates: the change was reviewed),
            # for the alias this step is about only: a @challenger that `train` set on a new
            # version while Git has no challenger is a candidate awaiting review, not drift.
            r.outcome, r.reason = Outcome.ALREADY_DONE, f"{base} already pins {r.after.describe()}"
            key = CHALLENGER if r.step in (Step.SHADOW, Step.SPLIT) else CHAMPION
            r.aliases = {key: r.aliases[key]}
            self._move_aliases()
            return r
        since = self.repo.last_change(base, s.values_file)
        r.branch = _branch(s, r.step, r.after, after_text, r.version, since)
        if self.repo.has_branch(r.branch, s.remote):
            r.outcome, r.reason = Outcome.ALREADY_PROPOSED, f"already proposed on branch {r.branch}"
            self._move_aliases()
            return r
        r.gates = self._gates()
        failed = [g for g in r.gates if not g.passed]
        if failed:
            raise _Refused("gates refused: " + "; ".join(g.line() for g in failed))
        if self.request.dry_run:
            r.outcome, r.reason = Outcome.WOULD_DO, f"would propose {r.after.describe()} on {r.branch}"
            return r
        r.commit = self.repo.commit_on_branch(base, r.branch, self._files(after_text), self._message())
        if s.remote:
            self.repo.push(s.remote, r.branch)
            r.pushed = True
        self._move_aliases()
        r.outcome = Outcome.DONE
        r.reason = f"proposed {r.after.describe()} on branch {r.branch} (commit {r.commit[:12]})"
        return r

    def _base(self) -> str:
        branch = self.s.base_branch or self.repo.current_branch()
        if self.s.remote:
            self.repo.fetch(self.s.remote)
            return f"{self.s.remote}/{branch}"
        return branch

    def _version(self) -> str:
        request, step = self.request, self.request.step
        if request.version is not None:
            version = request.version
        else:
            alias = PREVIOUS_CHAMPION if step is Step.ROLLBACK else CHALLENGER
            found = self.registry.alias(alias)
            if found is None:
                what = "no previous champion to restore" if step is Step.ROLLBACK else "no challenger"
                raise _Refused(f"{what}: {self.s.model_name}@{alias} is not set; pass --version")
            version = found
        if not self.registry.exists(version):
            raise _Refused(f"{self.s.model_name} version {version} is not in the registry")
        return version

    # ------------------------------------------------------------------ gates
    def _gates(self) -> list[Gate]:
        r, s = self.result, self.s
        assert r.before is not None
        assert r.version is not None
        if r.step is Step.ROLLBACK:
            return []
        champion = self.evidence(r.before.champion)
        challenger = self.evidence(r.version)
        gates = offline_gates(champion, challenger, s) + governance_gates(challenger)
        if r.step is Step.SHADOW:
            return gates
        if self.engine is None:
            return [*gates, volume_gate_missing("no inference log configured")]
        now = self.request.now or datetime.now(UTC)
        self.report = build_report(
            self.registry,
            self.engine,
            champion_version=champion.version,
            challenger_version=challenger.version,
            start=now - timedelta(hours=s.window_hours),
            end=now,
            max_records=s.max_records,
        )
        r.comparison = self.report.summary_lines()
        comparison = self.report.comparison
        gates += [
            volume_gate(comparison, s, pairs_only=r.step is Step.SPLIT),
            *agreement_gates(comparison, s),
        ]
        if r.step is Step.CHAMPION:
            gates += self._live_gates(champion.version, challenger.version)
        return gates

    def _live_gates(self, champion: str, challenger: str) -> list[Gate]:
        if not self.request.prometheus:
            return live_gates(None, self.s, "no --prometheus URL: the challenger's live metrics are unknown")
        try:
            figures = live_figures(
                self.request.prometheus,
                champion,
                challenger,
                self.s.live_window,
                self.s.prometheus_timeout_seconds,
            )
        except PrometheusUnavailable as exc:
            return live_gates(None, self.s, str(exc))
        self.result.live = as_dict(figures)
        return live_gates(figures, self.s)

    # ------------------------------------------------------------------ commit
    def _evidence_dir(self) -> Path:
        return self.s.evidence_dir / f"{self.s.model_name}-v{self.result.version}"

    def _files(self, values_text: str) -> dict[Path, str]:
        r = self.result
        name = r.step.value + (
            f"-{r.after.percent}pct" if r.after is not None and r.step is Step.SPLIT else ""
        )
        evidence = {
            **{
                k: v
                for k, v in r.as_dict().items()
                if k not in ("diff", "outcome", "reason", "commit", "pushed")
            },
            "comparison_report": self.report.as_dict() if self.report is not None else None,
        }
        files = {
            self.s.values_file: values_text,
            self._evidence_dir() / f"{name}.json": json.dumps(evidence, indent=2, default=str) + "\n",
        }
        card = self.evidence(r.version).governance.model_card if r.version else None
        if card:
            files[self._evidence_dir() / "model-card.md"] = card
        return files

    def _message(self) -> str:
        r = self.result
        assert r.before is not None
        assert r.after is not None
        lines = [
            f"promote {r.model} v{r.version}: {r.step.value} ({r.after.describe()})",
            "",
            f"Before: {r.before.describe()}",
            f"After:  {r.after.describe()}",
            "Aliases: " + ", ".join(f"@{k} -> {v or '(removed)'}" for k, v in r.aliases.items()),
        ]
        if r.comparison:
            lines += ["", "Comparison:", *(f"  {line}" for line in r.comparison)]
        if r.gates:
            lines += ["", "Gates:", *(f"  {g.line()}" for g in r.gates)]
        evidence = self._evidence_dir()
        card = self.evidence(r.version).governance.model_card if r.version else None
        lines += ["", f"Evidence: {evidence.as_posix()}/"]
        if card:
            lines.append(f"Model card: {(evidence / 'model-card.md').as_posix()}")
            lines += ["", *card.strip().splitlines()[:12]]
        lines += ["", f"Promotion-Step: {r.step.value}", f"Promotion-Version: {r.version}"]
        return "\n".join(lines) + "\n"

    def _move_aliases(self) -> None:
        if self.request.dry_run:
            return
        for alias, version in self.result.aliases.items():
            current = self.registry.alias(alias)
            if current == version:
                continue
            if version is None:
                self.registry.delete_alias(alias)
            else:
                self.registry.set_alias(alias, version)
            self.result.aliases_moved.append(alias)


def volume_gate_missing(why: str) -> Gate:
    return Gate("volume", GateStatus.MISSING, None, None, f"missing evidence: {why}")


def promote(
    request: PromotionRequest,
    settings: PromotionSettings,
    registry: Registry,
    repo: GitRepo,
    engine: sa.Engine | None,
) -> PromotionResult:
    """Run one step; never raises for a refusal (``outcome`` says so, ``exit_code`` is 1)."""
    if request.step is Step.SPLIT and (request.percent is None or not 0 <= request.percent <= 100):
        raise ValueError("split needs --percent N with 0 <= N <= 100")
    promotion = _Promotion(request, settings, registry, repo, engine)
    try:
        return promotion.run()
    except _Refused as refused:
        promotion.result.outcome, promotion.result.reason = Outcome.REFUSED, refused.reason
        return promotion.result
    except (GitError, CreditScoringError, sa.exc.SQLAlchemyError) as exc:
        promotion.result.outcome, promotion.result.reason = Outcome.REFUSED, str(exc).splitlines()[0]
        promotion.result.unavailable = True
        return promotion.result

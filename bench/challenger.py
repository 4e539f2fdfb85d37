"""The challenger stage: shadow and split under load, against running without a challenger.

Three transformers in front of our champion predictor, alike but for the challenger:
``ours-transformer`` (none: the end-to-end stage's), ``ours-transformer-shadow`` (each batch also
scored on a second predictor in the background, only the champion answers) and
``ours-transformer-split`` (a sticky 50% of applicants decided by that predictor). The challenger
predictor serves the champion's registered version in a process of its own (the benchmark trains
one model): what is measured is the cost of the second predictor call, not a model difference.

1. answers: the same applications through each. With shadow every answer equals the
   no-challenger one (decision, PD, score, band, reasons, thin file, model version, role
   ``champion``); with split the champion's share equals it too, the challenger's share is
   reported, and a second pass puts every applicant on the same side;
2. the champion-only maximum: a closed-loop run of single applications at the top concurrency;
3. half of that rate, open loop (``bench.loadgen``: latency counted from when each request was
   due), in interleaved rounds of none, shadow and split; the median over rounds of shadow's p99
   over none's is the target (at most 1.10, ``bench.stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import httpx
import orjson

from bench import payloads, targets
from bench.environment import BenchEnv
from bench.loadgen import LoadResult, run_load
from bench.runs import Bench
from bench.servers import CHALLENGER_PREDICTOR, CHALLENGER_TRANSFORMERS, TRANSFORMERS, Servers
from bench.settings import BenchSettings

__all__ = ["ANSWER_FIELDS", "CHALLENGER_TARGETS", "challenger_stage", "same_answers"]

# What must not change when a challenger takes part (request_id differs by design).
ANSWER_FIELDS = ("applicant_id", "pd", "score", "risk_band", "decision", "reasons", "thin_file")
# Target names of the fixed-rate runs, by challenger mode.
CHALLENGER_TARGETS = {"off": "ours-e2e-none", "shadow": "ours-e2e-shadow", "split": "ours-e2e-split50"}
_BATCH = 50
Progress = Callable[[str], None]


def _answers(url: str, api_key: str, apps: Sequence[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with httpx.Client(timeout=timeout, headers={"x-api-key": api_key}) as client:
        for k in range(0, len(apps), _BATCH):
            response = client.post(
                f"{url}/v1/models/credit-scoring:predict",
                content=payloads.transformer_v1_body(apps[k : k + _BATCH]),
                headers={"content-type": "application/json"},
            )
            response.raise_for_status()
            found += orjson.loads(response.content)["predictions"]
    return found


def same_answers(answer: Mapping[str, Any], reference: Mapping[str, Any]) -> bool:
    """The same answer but for the request id (and the role, compared by the caller)."""
    return all(answer[f] == reference[f] for f in ANSWER_FIELDS) and (
        answer["model"]["version"] == reference["model"]["version"]
    )


def _compare(servers: Servers, apps: Sequence[dict[str, Any]], timeout: float) -> dict[str, Any]:
    url = {name: s.url for name, s in servers.running.items()}
    key = servers.api_key
    none = _answers(url[TRANSFORMERS["sqlite"]], key, apps, timeout)
    shadow = _answers(url[CHALLENGER_TRANSFORMERS["shadow"]], key, apps, timeout)
    split = _answers(url[CHALLENGER_TRANSFORMERS["split"]], key, apps, timeout)
    again = _answers(url[CHALLENGER_TRANSFORMERS["split"]], key, apps, timeout)
    shadow_changed = sum(
        1
        for a, r in zip(shadow, none, strict=True)
        if not same_answers(a, r) or a["model"]["role"] != "champion"
    )
    roles = [a["model"]["role"] for a in split]
    split_changed = sum(
        1
        for a, r in zip(split, none, strict=True)
        if a["model"]["role"] == "champion" and not same_answers(a, r)
    )
    return {
        "applications": len(apps),
        "shadow_changed_answers": shadow_changed,
        "split_challenger_share": round(roles.count("challenger") / max(len(roles), 1), 4),
        "split_champion_answers_changed": split_changed,
        "split_sides_moved_on_second_pass": sum(
            1 for a, b in zip(split, again, strict=True) if a["model"]["role"] != b["model"]["role"]
        ),
        "split_roles_seen": sorted(set(roles)),
    }


def _load(bench: Bench, settings: BenchSettings, concurrency: int, rate: float | None = None) -> LoadResult:
    """One bounded run of ``bench``'s target (closed loop, or open loop at ``rate`` for the
    challenger stage's duration), its servers' CPU counted."""
    return run_load(
        bench.target,
        concurrency,
        duration=settings.duration_seconds if rate is None else settings.challenger_duration_seconds,
        warmup=settings.warmup_seconds,
        max_requests=settings.max_requests,
        timeout=settings.request_timeout_seconds,
        check_every=10,
        server_cpu=bench.cpu,
        rate=rate,
    )


def _fixed_rate_runs(
    benches: Sequence[Bench], settings: BenchSettings, concurrency: int, rate: float, progress: Progress
) -> list[dict[str, Any]]:
    runs = []
    for rnd in range(settings.challenger_repeats):
        order = list(benches[rnd % len(benches) :]) + list(benches[: rnd % len(benches)])
        for bench in order:
            result = _load(bench, settings, concurrency, rate)
            progress(
                f"   {bench.target.name} at {rate:.0f}/s: p99 {result.p99_ms} ms, {result.errors} errors"
            )
            runs.append({**asdict(result), "round": rnd, "rate": rate})
    return runs


def challenger_stage(
    servers: Servers, env: BenchEnv, settings: BenchSettings, progress: Progress
) -> dict[str, Any]:
    """Start the challenger's servers, compare answers, measure p99 at half the maximum rate."""
    servers.start_challengers(env)
    apps = env.workload.applications[: min(len(env.workload.applications), 200)]
    answers = _compare(servers, apps, settings.request_timeout_seconds)
    progress(f"   answers: {answers}")
    top = max(settings.concurrencies)
    running, key = servers.running, servers.api_key
    none = targets.ours_e2e(running, env.workload, key, name=CHALLENGER_TARGETS["off"])
    peak = _load(none, settings, top)
    rate = max(peak.throughput / 2, 1.0)
    progress(f"   champion-only maximum {peak.throughput}/s at c={top}: fixed rate {rate:.0f}/s")
    challenger = running[CHALLENGER_PREDICTOR]
    benches = [none]
    for mode in ("shadow", "split"):
        bench = targets.ours_e2e(
            running,
            env.workload,
            key,
            transformer=CHALLENGER_TRANSFORMERS[mode],
            name=CHALLENGER_TARGETS[mode],
        )
        benches.append(Bench(bench.target, [*bench.servers, challenger], bench.stage_metrics))
    runs = _fixed_rate_runs(benches, settings, top, rate, progress)
    return {
        "answers": answers,
        "max_rate": {**asdict(peak), "concurrency": top},
        "rate": rate,
        "concurrency": top,
        "runs": runs,
        "targets": [b.target.name for b in benches],
    }

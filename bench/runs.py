"""Load runs: one target at one concurrency, and rounds of interleaved targets.

Round r runs, for each concurrency, every target once (A B C, A B C, ...; the order rotates by
round), so ratios can be taken within a round, under the same machine conditions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from bench import machine
from bench.loadgen import LoadResult, Target, run_load
from bench.settings import BenchSettings
from cli.stack.supervisor import Supervised

__all__ = ["MLSERVER_BEST", "Bench", "Runner", "best_of"]

MLSERVER_BEST = "mlserver-best"
Progress = Callable[[str], None]


@dataclass
class Bench:
    """One load target and the servers whose CPU it costs."""

    target: Target
    servers: list[Supervised]
    stage_metrics: str | None = None
    """Our transformer's /metrics: mean time per scoring stage during each run."""

    def cpu(self) -> float:
        return sum(s.cpu_seconds() for s in self.servers)


def stage_totals(metrics_url: str) -> dict[str, list[float]]:
    """stage -> [sum of seconds, count] of ``credit_stage_duration_seconds`` (docs/architecture.md)."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, list[float]] = {}
    text = httpx.get(metrics_url, timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name != "credit_stage_duration_seconds":
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage")
            if stage and sample.name.endswith(("_sum", "_count")):
                pair = totals.setdefault(stage, [0.0, 0.0])
                pair[0 if sample.name.endswith("_sum") else 1] += sample.value
    return totals


def best_of(runs: list[dict[str, Any]], peers: list[str]) -> list[dict[str, Any]]:
    """For each round and concurrency, a copy of the run of whichever MLServer configuration was
    fastest then, named ``mlserver-best``: MLServer's best configuration depends on the
    concurrency (adaptive batching wins under load, but makes a lone request wait), so ours is
    compared with the best of the configurations kept, round by round."""
    best = []
    for rnd in sorted({r["round"] for r in runs}):
        for c in sorted({r["concurrency"] for r in runs}):
            mine = [r for r in runs if r["round"] == rnd and r["concurrency"] == c and r["target"] in peers]
            if mine:
                top = max(mine, key=lambda r: r["throughput"])
                best.append({**top, "target": MLSERVER_BEST, "config": top["target"]})
    return best


class Runner:
    """Runs targets under load with the benchmark's settings, one line of progress per run."""

    def __init__(self, settings: BenchSettings, progress: Progress) -> None:
        self.settings = settings
        self.progress = progress

    def run(
        self,
        bench: Bench,
        concurrency: int,
        rnd: int,
        *,
        duration: float | None = None,
        check_every: int = 50,
    ) -> dict[str, Any]:
        s = self.settings
        before = stage_totals(bench.stage_metrics) if bench.stage_metrics else None
        result: LoadResult = run_load(
            bench.target,
            concurrency,
            duration=duration or s.duration_seconds,
            warmup=s.warmup_seconds,
            max_requests=s.max_requests,
            timeout=s.request_timeout_seconds,
            check_every=check_every,
            server_cpu=bench.cpu,
        )
        row = {**asdict(result), "round": rnd, "load_average": machine.load_average()[0]}
        if before is not None and bench.stage_metrics:
            after = stage_totals(bench.stage_metrics)
            row["stage_ms"] = {
                stage: round(
                    (after[stage][0] - before.get(stage, [0.0, 0.0])[0])
                    * 1000
                    / (after[stage][1] - before.get(stage, [0.0, 0.0])[1]),
                    3,
                )
                for stage in after
                if after[stage][1] > before.get(stage, [0.0, 0.0])[1]
            }
        self.progress(
            f"  round {rnd} c={concurrency:<3} {bench.target.name:<24} {result.throughput:>9.1f} req/s "
            f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:7.2f} ms errors {result.errors}"
        )
        return row

    def interleave(
        self,
        benches: Sequence[Bench],
        concurrencies: Sequence[int],
        rounds: int,
        *,
        duration: float | None = None,
        check_every: int = 50,
    ) -> list[dict[str, Any]]:
        """Round r: for each concurrency, every target once (order rotated by round)."""
        runs = []
        for rnd in range(1, rounds + 1):
            for c in concurrencies:
                k = (rnd - 1) % len(benches)
                for bench in [*benches[k:], *benches[:k]]:
                    runs.append(self.run(bench, c, rnd, duration=duration, check_every=check_every))
        return runs

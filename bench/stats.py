"""From interleaved runs to summaries, within-round ratios and the issue's targets.

Runs are interleaved (round 1: A B C at each concurrency, round 2: the same, ...), so the runs of
one round saw the same machine conditions. Ratios are therefore taken round by round (ours /
peer in the same round) and summarised by their median, min and max; a single ratio of two
medians taken minutes apart would carry the machine's noise. The median also gets a bootstrap
90% interval (``median_interval``): when that interval straddles the target, the rounds' noise
would decide a met/missed verdict, so the verdict is "undecided" (``verdict``) and the report
says why.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "BATCH_FLOOR",
    "E2E_FLOOR",
    "PREDICTOR_FLOOR",
    "SHADOW_P99_RATIO",
    "median_interval",
    "round_ratios",
    "summarise_runs",
    "target_checks",
    "verdict",
]

# The floors a change may not go below (issue 10): ours / peer at the top concurrency, and the
# batch throughput in applications per second.
PREDICTOR_FLOOR = 3.0
E2E_FLOOR = 2.5
BATCH_FLOOR = 25_000
# Issue 13: shadow p99 / no-challenger p99 at half the champion-only maximum rate, at most.
SHADOW_P99_RATIO = 1.10


def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and v == v]
    return round(statistics.median(vals), 3) if vals else None


def summarise_runs(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (target, concurrency): medians over rounds, errors and requests summed."""
    keys: list[tuple[str, int]] = []
    for r in runs:
        key = (r["target"], r["concurrency"])
        if key not in keys:
            keys.append(key)
    rows = []
    for target, conc in keys:
        mine = [r for r in runs if r["target"] == target and r["concurrency"] == conc]
        rows.append(
            {
                "target": target,
                "concurrency": conc,
                "rounds": len(mine),
                "throughput": _median(r["throughput"] for r in mine),
                "items_per_second": _median(r["items_per_second"] for r in mine),
                "p50_ms": _median(r["p50_ms"] for r in mine),
                "p99_ms": _median(r["p99_ms"] for r in mine),
                "requests": sum(r["requests"] for r in mine),
                "errors": sum(r["errors"] for r in mine),
                "server_cpu_us": _median(r.get("server_cpu_us") for r in mine),
                "client_cpu_us": _median(r["client_cpu_us"] for r in mine),
                "throughput_by_round": [r["throughput"] for r in mine],
                **(
                    {
                        "stage_ms": {
                            st: _median(r["stage_ms"].get(st) for r in mine) for st in mine[0]["stage_ms"]
                        }
                    }
                    if mine[0].get("stage_ms")
                    else {}
                ),
            }
        )
    return rows


def median_interval(
    values: Sequence[float], level: float = 0.90, resamples: int = 2000
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of ``values`` (seeded: the same values give the
    same interval in every report)."""
    rng = random.Random(0)  # noqa: S311 (resampling, not secrets)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    return medians[int(tail * resamples)], medians[min(resamples - 1, int((1.0 - tail) * resamples))]


def round_ratios(
    runs: Sequence[dict[str, Any]], ours: str, peer: str, concurrency: int, metric: str
) -> dict[str, Any] | None:
    """ours/peer of ``metric`` in each round at ``concurrency``; None if either is missing."""
    ratios = []
    for rnd in sorted({r["round"] for r in runs}):
        a = [r for r in runs if r["round"] == rnd and r["target"] == ours and r["concurrency"] == concurrency]
        b = [r for r in runs if r["round"] == rnd and r["target"] == peer and r["concurrency"] == concurrency]
        if (
            a
            and b
            and a[0][metric]
            and b[0][metric]
            and a[0][metric] == a[0][metric]
            and b[0][metric] == b[0][metric]
        ):
            ratios.append(a[0][metric] / b[0][metric])
    if not ratios:
        return None
    return {
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "by_round": [round(x, 3) for x in ratios],
    }


def _check(
    name: str, target: str, measured: str, passed: bool | None, detail: str, *, decided: bool = True
) -> dict[str, Any]:
    """``passed``: the measured value against the goal (None: not measured); ``decided``: False
    when the noise of the measurement spans the goal, so ``passed`` is the noise's verdict."""
    return {
        "name": name,
        "target": target,
        "measured": measured,
        "passed": passed,
        "decided": decided,
        "detail": detail,
    }


def verdict(check: dict[str, Any]) -> str:
    """A check's verdict in words: met, NOT met, undecided or not measured."""
    if check["passed"] is None:
        return "not measured"
    if not check.get("decided", True):
        return "undecided (within the noise)"
    return "met" if check["passed"] else "NOT met"


def target_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and whether it is met (None: not measured)."""
    checks = []
    pred = results.get("predictor") or {}
    top = pred.get("top_concurrency")
    best = (results.get("mlserver_tuning") or {}).get("best_target")
    runs = pred.get("runs") or []
    if best and top is not None and runs:
        thr = round_ratios(runs, "ours", best, top, "throughput")
        p99 = round_ratios(runs, "ours", best, top, "p99_ms")
        passed = (
            None if thr is None or p99 is None else thr["median"] >= PREDICTOR_FLOOR and p99["median"] <= 1.0
        )
        checks.append(
            _check(
                f"predictor vs best MLServer at c={top}",
                f"throughput >= {PREDICTOR_FLOOR:g}x, p99 no worse",
                "n/a"
                if thr is None or p99 is None
                else f"{thr['median']:.2f}x throughput (rounds {thr['min']:.2f}-{thr['max']:.2f}), "
                f"p99 ratio {p99['median']:.2f}",
                passed,
                "fastest kept MLServer configuration in each round: "
                + ", ".join(
                    r.get("config", "?") for r in runs if r["target"] == best and r["concurrency"] == top
                ),
            )
        )
    else:
        checks.append(
            _check(
                "predictor vs best MLServer",
                f"throughput >= {PREDICTOR_FLOOR:g}x, p99 no worse",
                "not measured",
                None,
                (results.get("mlserver_tuning") or {}).get("skipped", "MLServer not run"),
            )
        )
    for database, suffix in (("sqlite", ""), ("postgresql", " (inference log on PostgreSQL)")):
        checks += _pair_checks(results, database, suffix)
    checks += _challenger_checks(results.get("challenger") or {})
    return checks


def _challenger_checks(stage: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #13: shadow leaves the champion's answers alone and costs at most 10% of p99 at half
    the champion-only maximum rate (``bench.challenger``)."""
    runs, answers = stage.get("runs") or [], stage.get("answers") or {}
    if not runs:
        return []
    c = stage["concurrency"]
    p99 = round_ratios(runs, "ours-e2e-shadow", "ours-e2e-none", c, "p99_ms")
    split = round_ratios(runs, "ours-e2e-split50", "ours-e2e-none", c, "p99_ms")
    errors = sum(r["errors"] for r in runs)
    changed = answers.get("shadow_changed_answers")
    # CPU of every server on the path (the challenger predictor included) per request: robust to
    # other load on the machine, unlike the p99.
    cpu = {
        name: _median(r.get("server_cpu_us") for r in runs if r["target"] == target)
        for name, target in (
            ("none", "ours-e2e-none"),
            ("shadow", "ours-e2e-shadow"),
            ("split:50", "ours-e2e-split50"),
        )
    }
    cpu_text = "; server CPU µs/request " + " / ".join(
        f"{name} {'n/a' if v is None else f'{v:,.0f}'}" for name, v in cpu.items()
    )
    measured, decided = "n/a", True
    if p99 is not None:
        interval = median_interval(p99["by_round"])
        measured = (
            _shadow_p99_text(p99, interval)
            + ("" if split is None else f"split:50/none {split['median']:.2f}; ")
            + f"{errors} errors"
            + cpu_text
        )
        # Errors decide on their own; otherwise a median whose interval spans the target would be
        # met or missed by the rounds' noise.
        decided = errors > 0 or not _straddles(interval)
    return [
        _check(
            "shadow: champion answers unchanged",
            "zero changed",
            f"{changed} of {answers.get('applications')} changed; split:50 challenger share "
            f"{answers.get('split_challenger_share')}, {answers.get('split_champion_answers_changed')} "
            f"champion answers changed, {answers.get('split_sides_moved_on_second_pass')} applicants "
            "moved side on a second pass",
            changed == 0,
            "decision, PD, score, band, reasons, thin file, model version; role champion",
        ),
        _check(
            f"shadow p99 at half the champion-only maximum rate ({stage.get('rate', 0):.0f}/s, c={c})",
            "within 10% of no challenger",
            measured,
            None if p99 is None else p99["median"] <= SHADOW_P99_RATIO and errors == 0,
            "open loop: latency from when each request was due; the challenger predictor serves the "
            "champion's version in its own process",
            decided=decided,
        ),
    ]


def _straddles(interval: tuple[float, float]) -> bool:
    low, high = interval
    return low <= SHADOW_P99_RATIO < high


def _shadow_p99_text(p99: dict[str, Any], interval: tuple[float, float]) -> str:
    """The median shadow/none ratio with its interval, flagged when the interval straddles the
    target (then the rounds' noise, not the shadow, would decide the verdict)."""
    low, high = interval
    noise = f", which straddles {SHADOW_P99_RATIO:.2f}" if _straddles(interval) else ""
    return (
        f"shadow/none p99 {p99['median']:.2f} (90% interval of the median {low:.2f}-{high:.2f}{noise}; "
        f"rounds {p99['min']:.2f}-{p99['max']:.2f}); "
    )


def _pair_checks(results: dict[str, Any], database: str, suffix: str) -> list[dict[str, Any]]:
    """End to end and batch against the stock pair, for the transformer logging to ``database``."""
    checks = []
    key = "" if database == "sqlite" else f"_{database}"
    ours_e2e = "ours-e2e" if database == "sqlite" else f"ours-e2e-{database}"
    ours_batch = "ours-batch" if database == "sqlite" else f"ours-batch-{database}"
    e2e = results.get(f"e2e{key}") or {}
    runs = e2e.get("runs") or []
    top = e2e.get("top_concurrency")
    low = e2e.get("low_concurrency")
    if runs and top is not None and any(r["target"] == "stock-pair" for r in runs):
        thr = round_ratios(runs, ours_e2e, "stock-pair", top, "throughput")
        p50 = round_ratios(runs, ours_e2e, "stock-pair", low, "p50_ms") if low is not None else None
        errors = sum(r["errors"] for r in runs if r["target"] == ours_e2e)
        checks.append(
            _check(
                f"end to end vs stock KServe pair at c={top}{suffix}",
                f"throughput >= {E2E_FLOOR:g}x",
                "n/a" if thr is None else f"{thr['median']:.2f}x (rounds {thr['min']:.2f}-{thr['max']:.2f})",
                None if thr is None else thr["median"] >= E2E_FLOOR,
                "ours with Feast/Redis features, reasons and inference logging; stock forwards only",
            )
        )
        checks.append(
            _check(
                f"end to end p50 at c={low}{suffix}",
                "no higher than the stock pair",
                "n/a" if p50 is None else f"ours/stock p50 = {p50['median']:.2f}",
                None if p50 is None else p50["median"] <= 1.0,
                "",
            )
        )
        checks.append(
            _check(
                f"end to end errors{suffix}",
                "zero",
                str(errors),
                errors == 0,
                "all concurrencies, all rounds",
            )
        )
    batch = results.get(f"batch{key}") or {}
    rows = [r for r in batch.get("summary") or [] if r["target"] == ours_batch]
    if rows:
        best_row = max(rows, key=lambda r: r["items_per_second"] or 0)
        aps = best_row["items_per_second"] or 0
        errors = sum(r["errors"] for r in rows)
        checks.append(
            _check(
                f"batch of {batch.get('batch_size')} through transformer+predictor{suffix}",
                f">= {BATCH_FLOOR:,} applications/s, reasons for every refer/decline",
                f"{aps:,.0f} applications/s (c={best_row['concurrency']}), {errors} errors",
                aps >= BATCH_FLOOR and errors == 0,
                "answers checked for reasons on every refer/decline",
            )
        )
    checks += _portfolio_checks(results.get("portfolio") or {})
    return checks


def _portfolio_checks(portfolio: dict[str, Any]) -> list[dict[str, Any]]:
    local = sorted(
        (r for r in portfolio.get("runs") or [] if r["engine"] == "local"), key=lambda r: r["rows"]
    )
    if not local:
        return []
    largest = local[-1]
    reasons = portfolio.get("reasons_check") or {}
    rate = largest.get("rows_per_second") or 0
    exact = largest.get("adverse_without_reasons") == 0 and reasons.get("mismatched") == 0
    checks = [
        _check(
            f"portfolio of {largest['rows']:,}, local engine ({largest['workers']} workers)",
            ">= 100,000 applications/s, exact reasons for every refer/decline",
            f"{rate:,.0f} applications/s scoring ({largest['wall_rows_per_second']:,.0f}/s with start-up, "
            f"{largest['wall_seconds']:.1f} s); {largest.get('adverse_without_reasons')} refer/decline "
            f"without reasons; {reasons.get('mismatched')}/{reasons.get('rows_checked')} sampled reasons "
            "differ from XGBoost's pred_contribs",
            rate >= 100_000 and exact,
            "scoring phase: first chunk read to committed file (model download and worker start-up excluded)",
        )
    ]
    if len(local) > 1:
        small = local[0]
        ratio = largest["peak_rss_mib"] / small["peak_rss_mib"] if small["peak_rss_mib"] else float("inf")
        checks.append(
            _check(
                f"portfolio peak RSS, {small['rows']:,} vs {largest['rows']:,} applications",
                "within 10%",
                f"{small['peak_rss_mib']:,.0f} MiB vs {largest['peak_rss_mib']:,.0f} MiB ({ratio:.2f}x)",
                abs(ratio - 1.0) <= 0.10,
                "whole process tree (driver and worker processes), sampled every 20 ms",
            )
        )
    return checks

"""``results.json`` -> ``report.md``: Markdown tables anyone can read and the README can copy.

``python -m bench.report bench/results/results.json`` re-renders the report from saved results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["render", "write_outputs"]


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _row_of(summary: list[dict[str, Any]], target: str, conc: int) -> dict[str, Any] | None:
    return next((r for r in summary if r["target"] == target and r["concurrency"] == conc), None)


def _per_item(row: dict[str, Any], key: str) -> float | None:
    """Server CPU per request, or per application for batches."""
    cpu = row.get("server_cpu_us")
    if cpu is None or key != "items_per_second" or not row.get("throughput"):
        return cpu
    return cpu * row["throughput"] / row["items_per_second"]


def _headline(results: dict[str, Any]) -> list[str]:
    """The table the README shows: ours next to each peer, same run, same concurrency."""
    from bench.stats import round_ratios

    rows = []

    def add(section: str, label: str, ours: str, peer: str, peer_label: str, unit: str = "req/s") -> None:
        data = results.get(section) or {}
        summary, runs = data.get("summary") or [], data.get("runs") or []
        concs = sorted({r["concurrency"] for r in summary})
        for c in concs:
            a, b = _row_of(summary, ours, c), _row_of(summary, peer, c)
            if a is None or b is None:
                continue
            key = "items_per_second" if unit == "apps/s" else "throughput"
            ratio = round_ratios(runs, ours, peer, c, key)
            rows.append(
                [
                    label,
                    peer_label,
                    str(c),
                    f"{_f(a[key], 0)} / {_f(b[key], 0)} {unit}",
                    "-"
                    if ratio is None
                    else f"**{ratio['median']:.2f}x** ({ratio['min']:.2f}-{ratio['max']:.2f})",
                    f"{_f(a['p50_ms'], 2)} / {_f(b['p50_ms'], 2)}",
                    f"{_f(a['p99_ms'], 2)} / {_f(b['p99_ms'], 2)}",
                    f"{_f(_per_item(a, key), 0)} / {_f(_per_item(b, key), 0)}",
                    f"{a['errors']} / {b['errors']}",
                ]
            )

    best = (results.get("mlserver_tuning") or {}).get("best_target")
    if best:
        add(
            "predictor",
            "predictor alone (v2, 1 row)",
            "ours",
            best,
            "MLServer, fastest of " + " / ".join((results.get("mlserver_tuning") or {}).get("kept", [])),
        )
    add("predictor", "predictor alone (v2, 1 row)", "ours", "stock-kserve", "stock kserve.Model")
    for key, name, log in (("", "", "SQLite log"), ("_postgresql", "-postgresql", "PostgreSQL log")):
        add(
            f"e2e{key}",
            f"end to end (features, reasons, {log})",
            f"ours-e2e{name}",
            "stock-pair",
            "stock forwarding pair",
        )
        add(
            f"batch{key}",
            f"batch ({(results.get(f'batch{key}') or {}).get('batch_size', '?')} apps/request, {log})",
            f"ours-batch{name}",
            "stock-pair-batch",
            "stock forwarding pair (no features/reasons)",
            unit="apps/s",
        )
    if not rows:
        return ["(no side-by-side runs completed)"]
    return _table(
        [
            "scenario",
            "peer",
            "c",
            "throughput ours / peer",
            "ratio (rounds)",
            "p50 ms ours / peer",
            "p99 ms ours / peer",
            "server CPU µs per item ours / peer",
            "errors ours / peer",
        ],
        rows,
    )


def _summary_table(summary: list[dict[str, Any]], items: bool = False) -> list[str]:
    rows = []
    for r in summary:
        row = [r["target"], str(r["concurrency"]), _f(r["throughput"])]
        if items:
            row.append(_f(r["items_per_second"], 0))
        row += [
            _f(r["p50_ms"], 2),
            _f(r["p99_ms"], 2),
            str(r["errors"]),
            str(r["requests"]),
            _f(r["server_cpu_us"], 0),
            _f(r["client_cpu_us"], 0),
            " ".join(_f(x, 0) for x in r["throughput_by_round"]),
        ]
        rows.append(row)
    header = (
        ["target", "c", "req/s"]
        + (["apps/s"] if items else [])
        + [
            "p50 ms",
            "p99 ms",
            "errors",
            "requests",
            "server CPU µs/req",
            "client CPU µs/req",
            "req/s by round",
        ]
    )
    return _table(header, rows)


def _profile_lines(profile: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for scenario in ("e2e", "batch"):
        procs = profile.get(scenario) or {}
        for name, summary in procs.items():
            if "error" in summary:
                out.append(f"- {scenario} / {name}: py-spy failed: {summary['error']}")
                continue
            pk = ", ".join(f"{p['name']} {p['share']:.0%}" for p in summary["own_time_by_package"][:8])
            ours = ", ".join(
                f"`{p['name'].split(' (')[0]}` {p['share']:.0%}"
                for p in summary["inclusive_time_in_our_functions"][:8]
            )
            funcs = ", ".join(
                f"`{p['name'].split(' (')[0]}` {p['share']:.0%}" for p in summary["own_time_by_function"][:6]
            )
            out += [
                f"- **{scenario} / {name}** ({summary['samples']} samples)",
                f"  - own time by package: {pk}",
                f"  - hottest functions (own time): {funcs}",
                f"  - time under our functions (inclusive): {ours}",
            ]
    return out


# The report's words for a verdict, where they differ from the terminal's (``bench.stats.verdict``).
_REPORT_VERDICT = {"met": "yes", "NOT met": "**no**"}


def render(results: dict[str, Any]) -> str:
    from bench.stats import verdict

    m = results.get("machine") or {}
    v = results.get("versions") or {}
    ours_v = v.get("ours") or {}
    mls_v = v.get("mlserver_venv") or {}
    model = results.get("model") or {}
    settings = results.get("settings") or {}
    lines = [
        "# Benchmark: credit-scoring serving vs MLServer and stock KServe",
        "",
        f"Run {results.get('started_at', '?')} ({_f(results.get('duration_seconds'), 0)} s), commit "
        f"{m.get('git_commit', '?')}. Machine: {m.get('cpu_model', '?')}, {m.get('usable_cpus', '?')} "
        f"usable CPUs of {m.get('logical_cpus', '?')}, {m.get('memory_gib', '?')} GiB, "
        f"{m.get('kernel', '?')}, Python {m.get('python', '?')}. Load average at start "
        f"{m.get('load_average_at_start')}, at end {results.get('load_average_at_end')} (other work on the "
        "machine: compare ratios, not absolutes).",
        "",
        f"Versions: kserve {ours_v.get('kserve')}, xgboost {ours_v.get('xgboost')}, feast "
        f"{ours_v.get('feast')}, fastapi {ours_v.get('fastapi')}, uvicorn {ours_v.get('uvicorn')}, "
        f"redis-server {v.get('redis-server')}; MLServer venv: mlserver {mls_v.get('mlserver', '-')}, "
        f"mlserver-xgboost {mls_v.get('mlserver-xgboost', '-')}, xgboost {mls_v.get('xgboost', '-')}, "
        f"uvloop {mls_v.get('uvloop', '-')}.",
        "",
        f"Model: `{model.get('name')}` version {model.get('version')}, {model.get('trees')} trees (depth <= "
        f"{model.get('max_depth')}), {model.get('features')} features; every server loads the same booster "
        f"file. Requests rotate over {model.get('workload_applications')} real applications.",
        "",
        "## Side by side (same run, interleaved rounds; ratio = median of per-round ours/peer)",
        "",
        *_headline(results),
        "",
        "## Targets (issue 6)",
        "",
    ]
    checks = results.get("targets") or []
    lines += _table(
        ["target", "goal", "measured", "met"],
        [
            [
                c["name"],
                c["target"],
                c["measured"],
                _REPORT_VERDICT.get(verdict(c), verdict(c)),
            ]
            for c in checks
        ],
    )
    sections = [
        ("predictor", "Predictor alone (v2 REST, 1 row per request)", False),
        ("e2e", "End to end (1 application per request, inference log on SQLite)", False),
        ("batch", "Batch (inference log on SQLite)", True),
        ("e2e_postgresql", "End to end (1 application per request, inference log on PostgreSQL)", False),
        ("batch_postgresql", "Batch (inference log on PostgreSQL)", True),
    ]
    for key, title, items in sections:
        data = results.get(key)
        if not data:
            continue
        extra = f", {data['batch_size']} applications per request" if key.startswith("batch") else ""
        lines += ["", f"## {title}{extra}", "", *_summary_table(data["summary"], items)]
        staged = [r for r in data["summary"] if r.get("stage_ms")]
        if staged:
            stages = list(staged[0]["stage_ms"])
            lines += [
                "",
                "Our transformer's own stage timings under that load (mean ms per request, from its "
                "`credit_stage_duration_seconds`; `predict` includes the hop to the predictor):",
                "",
            ]
            lines += _table(
                ["target", "c", *stages, "p50 ms (client)"],
                [
                    [
                        r["target"],
                        str(r["concurrency"]),
                        *(_f(r["stage_ms"].get(st), 2) for st in stages),
                        _f(r["p50_ms"], 2),
                    ]
                    for r in staged
                ],
            )
    portfolio = results.get("portfolio")
    if portfolio:
        lines += [
            "",
            "## Portfolio batch scoring (`credit-scoring batch-score`, synthetic portfolios)",
            "",
            *_table(
                [
                    "engine",
                    "applications",
                    "workers",
                    "scoring s",
                    "apps/s scoring",
                    "wall s",
                    "apps/s wall",
                    "peak RSS MiB",
                    "apps per CPU s",
                    "rejected",
                    "thin files",
                    "refer/decline without reasons",
                ],
                [
                    [
                        r["engine"],
                        f"{r['rows']:,}",
                        str(r["workers"]),
                        _f(r["scoring_seconds"], 2),
                        _f(r["rows_per_second"], 0),
                        _f(r["wall_seconds"], 1),
                        _f(r["wall_rows_per_second"], 0),
                        _f(r["peak_rss_mib"], 0),
                        _f(r.get("rows_per_cpu_second"), 0),
                        f"{r['rejected']:,}",
                        f"{r['thin_files']:,}",
                        str(r["adverse_without_reasons"]),
                    ]
                    for r in portfolio["runs"]
                ],
            ),
            "",
            "Scoring: from the first chunk read to the committed answers (model download, registry "
            "look-up, worker or Spark start-up excluded; the wall time includes them). Peak RSS: the "
            "whole process tree (driver and workers; Spark's JVM included), sampled every 20 ms. "
            "Apps per CPU second: rows over the CPU time of the whole tree, start-up included (what two "
            "idle cores would sustain is about twice that, less the start-up); the least sensitive to "
            "other work on the machine. "
            f"Reasons of {portfolio.get('reasons_check', {}).get('rows_checked', 0)} sampled refer/decline "
            f"answers against XGBoost's own pred_contribs ranking: "
            f"{portfolio.get('reasons_check', {}).get('mismatched', '?')} differ.",
        ]
    tuning = results.get("mlserver_tuning")
    if tuning:
        lines += [
            "",
            f"## MLServer configurations tried (c={tuning['concurrency']}, output `{tuning['output']}`, "
            f"max |PD - booster PD| {tuning.get('max_abs_pd_difference', float('nan')):.1e})",
            "",
            *_summary_table(tuning["summary"]),
            "",
            f"Best: **{tuning['best']}**: {tuning['configs'].get(tuning['best'], '')}.",
        ]
        lines += [f"- `{n}`: {d}" for n, d in tuning["configs"].items()]
    floor = results.get("floor")
    if floor:
        n = floor["batch_size"]
        rows = []
        for stage, one in floor["single_us"].items():
            b = floor["batch_us"].get(stage)
            rows.append([stage, _f(one, 1), _f(b, 0), _f(b / n if b is not None else None, 2)])
        total1 = sum(floor["single_us"].values())
        totalb = sum(floor["batch_us"].values())
        rows.append(["**total**", _f(total1, 1), _f(totalb, 0), _f(totalb / n, 2)])
        lines += [
            "",
            "## Floor: the same work in one process, no HTTP (µs)",
            "",
            *_table(
                ["stage", "1 application (mean)", f"batch of {n} (median)", "per application in batch"], rows
            ),
            "",
            f"One core could do at most {_f(1e6 / total1 if total1 else None, 0)} single applications/s or "
            f"{_f(n * 1e6 / totalb if totalb else None, 0)} applications/s in batches of {n} this way. "
            f"Workload: {floor['adverse_share']:.0%} refer/decline (need TreeSHAP), "
            f"{floor['thin_share']:.0%} thin files. Reasons computed with "
            f"{floor.get('reasons_method', '?')}.",
            "",
            "Single calls: "
            + ", ".join(f"{k} {_f(x, 1)} µs" for k, x in floor["reference_us"].items())
            + ".",
        ]
    http_floor = results.get("http_floor")
    if http_floor:
        lines += [
            "",
            "HTTP floor (same client, c=1, `GET /v2/health/live`, a round trip that does no work):",
            "",
            *_table(
                ["server", "p50 ms", "p99 ms", "req/s", "server CPU µs/req"],
                [
                    [
                        n,
                        _f(r["p50_ms"], 3),
                        _f(r["p99_ms"], 3),
                        _f(r["throughput"], 0),
                        _f(r["server_cpu_us"], 0),
                    ]
                    for n, r in http_floor.items()
                    if isinstance(r, dict)
                ],
            ),
        ]
    profile = results.get("profile")
    if profile or (floor and floor.get("profile")):
        lines += ["", "## Where the time goes", ""]
        if profile and "skipped" in profile:
            lines.append(f"py-spy: {profile['skipped']}")
        elif profile:
            lines += [
                "py-spy on our transformer and predictor under load (CPU-active samples; time in C "
                "extensions is charged to the Python caller):",
                "",
                *_profile_lines(profile),
            ]
        if floor and floor.get("profile"):
            lines += [
                "",
                "cProfile of the in-process floor (single applications), top functions by own time:",
                "",
            ]
            lines += _table(
                ["function", "calls", "own ms", "share", "cumulative ms"],
                [
                    [
                        f"`{r['function']}`",
                        str(r["calls"]),
                        _f(r["own_ms"], 1),
                        f"{r['own_share']:.0%}",
                        _f(r["cumulative_ms"], 1),
                    ]
                    for r in floor["profile"][:12]
                ],
            )
    memory = results.get("memory") or {}
    if memory:
        lines += ["", "## Peak RSS per process (VmHWM)", ""]
        lines += _table(
            ["server", "pid", "peak RSS MiB", "command"],
            [
                [name, str(p["pid"]), _f(p["peak_rss_mib"], 0), f"`{p['command'][:90]}`"]
                for name, procs in memory.items()
                for p in procs
            ],
        )
    configs = results.get("configurations") or {}
    if configs:
        lines += ["", "## Configurations", ""]
        lines += _table(
            ["server", "configuration", "auth and limits", "command"],
            [
                [n, c["description"], c.get("admission", "not recorded"), f"`{c['command'][:160]}`"]
                for n, c in configs.items()
            ],
        )
        lines += [
            "",
            "Auth and limits `none`: the server checks no credential (stock KServe and MLServer have "
            "none; our predictor is reached only by the transformer, NetworkPolicies enforce it).",
        ]
    parity = results.get("parity")
    if parity:
        lines += [
            "",
            f"Parity before timing: {json.dumps({k: v for k, v in parity.items() if k != 'seconds'})}",
        ]
    errors = results.get("errors") or []
    if errors:
        lines += ["", "## Errors", ""] + [f"- {e['stage']}: {e['error']}" for e in errors]
    lines += [
        "",
        "## Method",
        "",
        "- Load generator (`bench/loadgen.py`): closed loop, `c` keep-alive HTTP/1.1 connections each with "
        "one request in flight, raw asyncio protocols on uvloop, request bytes built before the run, "
        "responses read by Content-Length and decoded only for the sampled checks. It runs in the harness "
        "process and shares the cores with the servers; its own CPU per request is measured (`client CPU "
        "µs/req`) and so is the servers' (`server CPU µs/req`, process trees from /proc), which is far less "
        "sensitive to the machine's noise than req/s.",
        f"- Every run: {_f(settings.get('warmup_seconds'), 1)} s warm-up, then "
        f"{_f(settings.get('duration_seconds'), 1)} s measured, at most {settings.get('max_requests')} "
        "requests, each with a timeout. Rounds interleave the targets (A B C, A B C, ...; the order rotates "
        "each round) and ratios are taken within a round.",
        "- A non-200 answer, a timeout, a dropped connection or a sampled answer that fails its check (PD in "
        "[0, 1]; a decision, and reasons for every refer/decline) counts as an error.",
    ]
    return "\n".join(lines) + "\n"


def write_outputs(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(results, indent=2, default=str))
    md_path = out_dir / "report.md"
    md_path.write_text(render(results))
    return json_path, md_path


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/results.json")
    data = json.loads(path.read_text())
    (path.parent / "report.md").write_text(render(data))
    print(path.parent / "report.md")

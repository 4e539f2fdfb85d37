"""``python -m bench`` (what ``make bench`` runs): see bench/harness.py and docs/benchmarks.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bench.settings import BenchSettings
from credit_scoring.settings_help import environment_help


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Side-by-side benchmark of the credit-scoring serving path vs MLServer and stock KServe "
        "(loopback only, bounded). Flags override the settings below.",
        epilog="\n".join(environment_help(BenchSettings)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny bounded run: proves the harness, measures little"
    )
    p.add_argument("--out", type=Path, help="output folder (default bench/results)")
    p.add_argument("--duration", type=float, help="measured seconds per run")
    p.add_argument("--warmup", type=float, help="warm-up seconds per run")
    p.add_argument("--repeats", type=int, help="interleaved rounds")
    p.add_argument("--concurrency", help="comma-separated, e.g. 1,8,32")
    p.add_argument("--batch-size", type=int, help="applications per batch request")
    p.add_argument("--peers", help="comma-separated subset of mlserver,kserve ('' for none)")
    p.add_argument("--mlserver-configs", help="comma-separated MLServer configurations to try")
    p.add_argument("--no-profile", action="store_true", help="skip py-spy and cProfile")
    p.add_argument("--stages", help="comma-separated subset of the stages, e.g. portfolio")
    p.add_argument("--portfolio-rows", help="comma-separated portfolio sizes for the local engine")
    p.add_argument("--portfolio-spark-rows", type=int, help="portfolio size for Spark local[2] (0: skip)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, object] = {}
    for key, value in (
        ("out_dir", args.out),
        ("duration_seconds", args.duration),
        ("warmup_seconds", args.warmup),
        ("repeats", args.repeats),
        ("concurrencies", args.concurrency),
        ("batch_size", args.batch_size),
        ("peers", args.peers),
        ("mlserver_configs", args.mlserver_configs),
        ("stages", args.stages),
        ("portfolio_rows", args.portfolio_rows),
        ("portfolio_spark_rows", args.portfolio_spark_rows),
    ):
        if value is not None:
            overrides[key] = value
    if args.no_profile:
        overrides["profile"] = False
    try:
        settings = BenchSettings.quick(**overrides) if args.quick else BenchSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        print(f"invalid benchmark settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from bench import BenchError
    from bench.harness import run_benchmark
    from bench.stats import verdict

    t0 = time.monotonic()
    # A copy of the terminal: setup sends file descriptors 1 and 2 to a log for a while.
    console = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {message}", file=console, flush=True)

    try:
        results = run_benchmark(settings, progress=progress)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmark interrupted; every server it started was stopped", file=sys.stderr)
        return 130
    out = settings.out_dir.resolve()
    print(f"\nwrote {out / 'results.json'} and {out / 'report.md'}\n")
    print((out / "report.md").read_text().split("## Targets")[0].split("## Side by side", 1)[-1])
    for check in results.get("targets", []):
        print(f"  {check['name']}: {check['measured']} (goal {check['target']}): {verdict(check)}")
    if results.get("errors"):
        print(
            f"\n{len(results['errors'])} stage(s) failed: "
            + ", ".join(e["stage"] for e in results["errors"]),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

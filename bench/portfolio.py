"""The ``portfolio`` stage: synthetic portfolios through ``credit-scoring batch-score``, as users run it.

A portfolio of N applications is drawn from the applicants of the Feast view's offline source
(their application times after one of their profile versions, so most find a profile; 5%
unknown applicants, thin files; 0.1% invalid rows, rejected), written as Parquet, and scored by
the command in a subprocess (the local engine, its worker processes on every usable CPU), then
by the Spark engine on ``local[2]``. Measured per run: the command's wall time, the scoring
phase's rate (rows from the first chunk to the committed file: what the engine sustains, model
download and worker start-up excluded, both reported) and the peak RSS of the whole process
tree (driver plus workers, sampled every 20 ms). The answers are then checked: every refer and
decline carries reasons, and for a sample the reasons equal the ranking of XGBoost's own
``pred_contribs`` (the exact TreeSHAP reference) on the same rows.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["PortfolioRun", "measure_portfolio", "synthetic_portfolio"]

Progress = Callable[[str], None]


@dataclass
class PortfolioRun:
    engine: str
    rows: int
    wall_seconds: float
    scoring_seconds: float | None
    rows_per_second: float | None
    """Rows over the scoring phase (``scoring_seconds``); the wall time includes start-up."""
    wall_rows_per_second: float
    peak_rss_mib: float
    cpu_seconds: float
    """CPU time (user + system) of the whole process tree, start-up included."""
    rows_per_cpu_second: float
    """Rows per CPU second: less sensitive to other work on the machine than the rates above."""
    workers: int
    scored: int
    rejected: int
    thin_files: int
    decisions: dict[str, int] = field(default_factory=dict)
    adverse_without_reasons: int | None = None


def synthetic_portfolio(profile_path: str, rows: int, out: Path, seed: int = 15) -> Path:
    """``rows`` applications of the profile table's applicants (plus unknown ones), as Parquet."""
    rng = np.random.default_rng(seed)
    profile = pq.read_table(profile_path, columns=["applicant_id", "event_timestamp"])
    ids = profile["applicant_id"].to_numpy(zero_copy_only=False).astype(str)
    ts = pc.cast(profile["event_timestamp"], pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy()
    pick = rng.integers(0, len(ids), rows)
    day = 86_400 * 10**9
    at = ts[pick] + rng.integers(1, 120, rows) * day
    applicant = ids[pick].astype(object)
    unknown = rng.random(rows) < 0.05
    applicant[unknown] = np.char.add("NEW", rng.integers(0, 10**9, unknown.sum()).astype(str))
    price = rng.uniform(300, 5000, rows).round(0)
    amount = (price * rng.uniform(0.1, 1.0, rows)).round(0)
    amount[rng.random(rows) < 0.001] = -1.0  # invalid: rejected with the online message
    table = pa.table(
        {
            "application_id": pa.array(np.char.add("P", np.arange(rows).astype(str))),
            "applicant_id": pa.array(applicant, pa.string()),
            "application_timestamp": pa.array(at, pa.int64()).cast(pa.timestamp("ns", "UTC")),
            "amount": amount,
            "price": price,
            "term": rng.choice(np.array([6, 12, 24, 36, 48, 60, 72]), rows),
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, row_group_size=100_000)
    return out


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: Mapping[str, str], log: Path) -> tuple[dict[str, Any], float, int, float]:
    """(summary JSON, wall seconds, peak RSS of the process tree in bytes, its CPU seconds).

    The CPU time is the terminated children's (``RUSAGE_CHILDREN``): the command waits for its
    worker processes (and Spark's JVM and Python workers), so all of them are counted.
    """
    cpu = _children_cpu()
    started = time.monotonic()
    with log.open("ab") as err:
        proc = subprocess.Popen(argv, env=dict(env), stdout=subprocess.PIPE, stderr=err)
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                stop.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate(timeout=3600)
        stop.set()
        sampler.join()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {proc.returncode}; see {log}")
    from batch.job import read_summary

    return read_summary(out.decode()), wall, peak, _children_cpu() - cpu


def _adverse_without_reasons(output: Path) -> int:
    table = ds.dataset(output, format="parquet").to_table(columns=["decision", "reasons"])
    adverse = pc.is_in(table["decision"], value_set=pa.array(["refer", "decline"]))
    empty = pc.equal(pc.list_value_length(table["reasons"]), 0)
    return int(pc.sum(pc.and_(adverse, empty)).as_py() or 0)


def check_reasons_against_xgboost(
    portfolio: Path, output: Path, booster_file: Path, source: Any, as_of_column: str, sample: int = 400
) -> dict[str, Any]:
    """For ``sample`` refer/decline answers: the reasons the run gave equal the ranking of XGBoost's
    ``pred_contribs`` on the same rows (contributions to 1e-5; order may differ only on ties)."""
    import xgboost as xgb

    from batch.features import ProfileIndex, model_inputs
    from credit_scoring.features import feature_names, feature_types

    answers = ds.dataset(output, format="parquet").to_table().to_pandas()
    adverse = answers[answers["decision"].isin(["refer", "decline"])]
    picked = adverse.sample(min(sample, len(adverse)), random_state=1)
    inputs = pq.read_table(portfolio).to_pandas().set_index("application_id").loc[picked["application_id"]]
    index = ProfileIndex.load(source)
    at = inputs[as_of_column].astype("int64").to_numpy()
    rows = index.lookup(pa.array(inputs["applicant_id"]), at)
    request = {k: inputs[k].to_numpy(dtype=np.float64) for k in ("amount", "price", "term")}
    matrix = model_inputs(index.values(rows), request, rows >= 0).matrix
    booster = xgb.Booster(model_file=str(booster_file))
    names = feature_names()
    contribs = booster.predict(
        xgb.DMatrix(matrix, feature_names=names, feature_types=feature_types(), enable_categorical=True),
        pred_contribs=True,
    )[:, :-1]
    mismatched = 0
    for k, reasons in enumerate(picked["reasons"]):
        missing = np.isnan(matrix[k])
        cited = [
            (float(v), n) for v, n, m in zip(contribs[k], names, missing, strict=True) if v > 0 and not m
        ]
        # R00 pools every missing feature by its net contribution (one that lowered the risk
        # offsets one that raised it) and is a reason only when the net pushes toward default.
        pooled = [(float(v), n) for v, n, m in zip(contribs[k], names, missing, strict=True) if m]
        net = sum(v for v, _ in pooled)
        expected = cited + ([(net, ",".join(n for _, n in pooled))] if pooled and net > 0 else [])
        expected.sort(key=lambda item: -item[0])
        got = [(r["contribution"], r["feature"]) for r in reasons]
        expected = expected[: len(got)]
        ok = len(got) == len(expected) and all(
            abs(g[0] - e[0]) < 1e-5 and (g[1] == e[1] or abs(g[0] - e[0]) < 1e-5)
            for g, e in zip(got, expected, strict=True)
        )
        mismatched += not ok
    return {"rows_checked": len(picked), "mismatched": mismatched}


def measure_portfolio(
    env: Mapping[str, str],
    work: Path,
    profile_path: str,
    source: Any,
    booster_file: Path,
    sizes: tuple[int, ...],
    spark_rows: int | None,
    progress: Progress,
) -> dict[str, Any]:
    """Score each size with the local engine (and ``spark_rows`` with Spark local[2])."""
    command = str(Path(sys.executable).parent / "credit-scoring")
    runs: list[PortfolioRun] = []
    checks: dict[str, Any] = {}
    for rows in sizes:
        portfolio = synthetic_portfolio(profile_path, rows, work / f"portfolio-{rows}.parquet")
        output = work / f"scores-{rows}.parquet"
        progress(f"  portfolio: {rows:,} applications, local engine")
        summary, wall, peak, cpu = _run(
            [command, "batch-score", "--input", str(portfolio), "--output", str(output), "--json"],
            env,
            work / "batch.log",
        )
        run = _as_run("local", summary, wall, peak, cpu)
        run.adverse_without_reasons = _adverse_without_reasons(output)
        runs.append(run)
        progress(
            f"    {run.rows_per_second or 0:,.0f} applications/s scoring ({run.wall_rows_per_second:,.0f}/s "
            f"with start-up), {run.rows_per_cpu_second:,.0f} per CPU second, peak RSS "
            f"{run.peak_rss_mib:,.0f} MiB, {run.workers} workers"
        )
        if rows == max(sizes):
            checks = check_reasons_against_xgboost(
                portfolio, output, booster_file, source, "application_timestamp"
            )
            progress(f"    reasons vs XGBoost pred_contribs: {checks}")
        output.unlink(missing_ok=True)
    if spark_rows:
        portfolio = synthetic_portfolio(profile_path, spark_rows, work / f"portfolio-{spark_rows}.parquet")
        output = work / f"scores-spark-{spark_rows}"
        progress(f"  portfolio: {spark_rows:,} applications, Spark local[2]")
        summary, wall, peak, cpu = _run(
            [
                sys.executable,
                "-m",
                "batch",
                "--engine",
                "spark",
                "--spark_master",
                "local[2]",
                "--input",
                str(portfolio),
                "--output",
                str(output),
            ],
            env,
            work / "batch-spark.log",
        )
        run = _as_run("spark", summary, wall, peak, cpu)
        run.adverse_without_reasons = _adverse_without_reasons(output)
        runs.append(run)
        progress(
            f"    {run.wall_rows_per_second:,.0f} applications/s (wall), peak RSS {run.peak_rss_mib:,.0f} MiB"
        )
    return {"runs": [asdict(r) for r in runs], "reasons_check": checks}


def _as_run(engine: str, summary: dict[str, Any], wall: float, peak: int, cpu: float) -> PortfolioRun:
    rows = int(summary["rows"])
    scoring = summary.get("scoring_seconds")
    return PortfolioRun(
        engine=engine,
        rows=rows,
        wall_seconds=round(wall, 2),
        scoring_seconds=scoring,
        rows_per_second=round(rows / scoring, 1) if scoring else None,
        wall_rows_per_second=round(rows / wall, 1),
        peak_rss_mib=round(peak / 2**20, 1),
        cpu_seconds=round(cpu, 2),
        rows_per_cpu_second=round(rows / cpu, 1) if cpu > 0 else 0.0,
        workers=int(summary.get("workers", 0)),
        scored=int(summary["scored"]),
        rejected=int(summary["rejected"]),
        thin_files=int(summary["thin_files"]),
        decisions=dict(summary.get("decisions", {})),
    )

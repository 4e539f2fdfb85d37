"""``credit-scoring batch-score`` runs: safe to repeat, all or nothing, measured, explicit on bad input.

Each test runs the command as a user does (a subprocess, the local engine's worker processes),
on the session's stores and the session's Pushgateway.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from batch.job import read_summary
from tests.batch.conftest import Portfolio, batch_env
from tests.conftest import PrometheusServer
from tests.credit_env import CreditEnv

pytestmark = pytest.mark.slow

COMMAND = [str(Path(sys.executable).parent / "credit-scoring"), "batch-score"]


def _score(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr[-4000:]
    return result


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.fixture(scope="module")
def run_env(
    credit_env: CreditEnv, materialized_at, pushgateway: PrometheusServer, tmp_path_factory
) -> dict[str, str]:
    return batch_env(
        credit_env,
        tmp_path_factory.mktemp("batch-home"),
        CREDIT_BATCH_AS_OF=materialized_at.isoformat(),
        CREDIT_PUSHGATEWAY_URL=pushgateway.url,
        CREDIT_BATCH_PORTFOLIO="test-runs",
    )


@pytest.fixture(scope="module")
def first_run(run_env, portfolio: Portfolio, tmp_path_factory) -> tuple[dict, Path]:
    """One successful run every test here builds on (each run costs seconds of start-up)."""
    out = tmp_path_factory.mktemp("first-run") / "scores.parquet"
    summary = read_summary(
        _score(run_env, "--input", str(portfolio.path), "--output", str(out), "--json").stdout
    )
    return summary, out


def test_first_run_answers_in_input_order_and_pushes_its_metrics(first_run, portfolio, pushgateway):
    summary, out = first_run
    answers = pq.read_table(out).to_pandas()
    assert summary["scored"] == len(answers) == len(portfolio.valid)
    assert answers["application_id"].tolist() == portfolio.valid["application_id"].tolist()
    assert answers["request_id"].nunique() == 1
    assert summary["rejected"] == pq.read_table(out.with_name("scores.rejects.parquet")).num_rows
    assert _leftovers(out.parent) == []
    pushed = _pushed(pushgateway, "test-runs")
    assert pushed["credit_batch_scored_rows"] == summary["scored"]
    assert pushed["credit_batch_rejected_rows"] == len(portfolio.invalid_rows)
    assert pushed["credit_batch_rows"] == len(portfolio.frame)
    assert pushed["credit_batch_thin_file_rows"] == summary["thin_files"] > 0
    for decision, count in summary["decisions"].items():
        assert pushed[f"credit_batch_decisions[{decision}]"] == count
    assert pushed["credit_batch_run_info[local]"] == 1
    assert pushed["credit_batch_max_age_seconds"] == 26 * 3600
    assert time.time() - pushed["credit_batch_last_success_timestamp_seconds"] < 900


def test_rerun_replaces_the_output_whole_and_cleans_a_killed_runs_files(
    run_env, first_run, portfolio, tmp_path
):
    _, first = first_run
    out = tmp_path / "scores.parquet"
    shutil.copy(first, out)
    # What SIGKILL or the OOM killer leaves: temporary files no run cleaned.
    (tmp_path / ".scores.parquet.tmp-dead").write_bytes(b"PAR1 half a file")
    (tmp_path / ".scores.rejects.parquet.tmp-dead").write_bytes(b"PAR1")
    _score(run_env, "--input", str(portfolio.path), "--output", str(out), "--json")
    before, after = pq.read_table(first).to_pandas(), pq.read_table(out).to_pandas()
    assert before["request_id"].iloc[0] != after["request_id"].iloc[0]  # a new run's file, not an append
    pd.testing.assert_frame_equal(before.drop(columns="request_id"), after.drop(columns="request_id"))
    assert (tmp_path / "scores.rejects.parquet").is_file()
    assert _leftovers(tmp_path) == []


def _big_portfolio(portfolio: Portfolio, folder: Path, copies: int) -> Path:
    frame = pd.concat([portfolio.frame] * copies, ignore_index=True)
    frame["application_id"] = [f"B{i:08d}" for i in range(len(frame))]
    path = folder / "big.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_leaves_nothing_and_keeps_the_previous_output(
    run_env, first_run, portfolio, tmp_path, how
):
    out = tmp_path / "scores.parquet"
    shutil.copy(first_run[1], out)
    previous = out.read_bytes()
    big = _big_portfolio(portfolio, tmp_path, 60)
    proc = subprocess.Popen(
        [*COMMAND, "--input", str(big), "--output", str(out), "--chunk-rows", "5000", "--json"],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        # Interrupt once the run is writing (its temporary answers file exists and has grown).
        while time.monotonic() < deadline and proc.poll() is None:
            temporary = [p for p in tmp_path.glob(".scores.parquet.tmp-*") if p.stat().st_size > 100_000]
            if temporary:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted: make the input bigger"
        proc.send_signal(how)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, stderr[-2000:]
    assert out.read_bytes() == previous
    assert _leftovers(tmp_path) == []


def _pushed(pushgateway: PrometheusServer, portfolio_name: str) -> dict[str, float]:
    text = httpx.get(f"{pushgateway.url}/metrics", timeout=10).text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("portfolio") == portfolio_name and sample.name.startswith("credit_batch_"):
                suffix = sample.labels.get("decision") or sample.labels.get("engine")
                values[sample.name + (f"[{suffix}]" if suffix else "")] = sample.value
    return values


def test_failed_run_writes_nothing_and_pushes_its_failure(
    run_env, first_run, portfolio, tmp_path, pushgateway
):
    summary, first = first_run
    out = tmp_path / "scores.parquet"
    shutil.copy(first, out)
    previous = out.read_bytes()
    failed = _score(
        run_env,
        "--input",
        str(portfolio.path),
        "--output",
        str(out),
        "--model-uri",
        "models:/no-such-model@champion",
        check=False,
    )
    assert failed.returncode != 0
    assert out.read_bytes() == previous
    assert _leftovers(tmp_path) == []
    after = _pushed(pushgateway, "test-runs")
    assert (
        after["credit_batch_last_failure_timestamp_seconds"]
        > after["credit_batch_last_success_timestamp_seconds"]
    )
    assert after["credit_batch_scored_rows"] == summary["scored"]  # the last success stays visible


def test_input_without_a_required_column_is_an_error_naming_it(run_env, portfolio, tmp_path):
    bad = tmp_path / "bad.parquet"
    portfolio.frame.drop(columns=["term"]).to_parquet(bad, index=False)
    result = _score(run_env, "--input", str(bad), "--output", str(tmp_path / "scores.parquet"), check=False)
    assert result.returncode == 1
    assert "lacks column(s) term" in result.stderr
    assert not (tmp_path / "scores.parquet").exists()
    assert _leftovers(tmp_path) == []


def test_csv_input_gives_the_parquet_answers(run_env, first_run, portfolio, tmp_path):
    _, first = first_run
    csv = tmp_path / "portfolio.csv"
    portfolio.frame.to_csv(csv, index=False)
    _score(run_env, "--input", str(csv), "--output", str(tmp_path / "from-csv.parquet"), "--workers", "1")
    from_csv = pq.read_table(tmp_path / "from-csv.parquet").to_pandas().drop(columns="request_id")
    from_parquet = pq.read_table(first).to_pandas().drop(columns="request_id")
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    rejects_csv = pq.read_table(tmp_path / "from-csv.rejects.parquet").to_pandas()
    rejects_parquet = pq.read_table(first.with_name("scores.rejects.parquet")).to_pandas()
    assert rejects_csv["row"].tolist() == rejects_parquet["row"].tolist() == portfolio.invalid_rows
    # An empty CSV cell is no value at all: the empty applicant_id of Parquet is null in CSV.
    empty_id = rejects_parquet["applicant_id"].eq("").to_numpy()
    assert empty_id.sum() == 2
    for csv_row, parquet_row, empty in zip(
        rejects_csv["problems"], rejects_parquet["problems"], empty_id, strict=True
    ):
        csv_problems, parquet_problems = list(map(dict, csv_row)), list(map(dict, parquet_row))
        if empty:
            assert csv_problems[0] == {"field": "applicant_id", "message": "Input should be a valid string"}
            csv_problems, parquet_problems = csv_problems[1:], parquet_problems[1:]
        assert csv_problems == parquet_problems

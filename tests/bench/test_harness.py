"""The benchmark harness on a tiny bounded run: real servers, a well-formed report, nothing left running.

Not a timed test: it asserts that every stage ran, that every number the report needs is there
and sane, and that the report renders it; not how fast anything is. MLServer is not started here
(its virtualenv is built by ``make bench`` only); what happens without it is tested separately.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import BenchError
from bench.environment import BenchEnv
from bench.floor import STAGES
from bench.harness import Harness, run_benchmark
from bench.profiling import find_py_spy
from bench.report import render
from bench.settings import BenchSettings
from credit_scoring.features import feature_names

# The module's one bounded run (every stage, PostgreSQL variants and two small portfolios) is set
# up inside its first test; on a loaded 2-core machine that alone can pass the 600 s default.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def run(bench_env: BenchEnv, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench-results")
    settings = BenchSettings.quick(out_dir=out, peers=("kserve",), concurrencies=(1, 4), batch_size=50)
    lines: list[str] = []
    results = run_benchmark(settings, bench_env, progress=lines.append)
    return results, out


def _rows(section: dict[str, Any], target: str) -> list[dict[str, Any]]:
    return [r for r in section["summary"] if r["target"] == target]


def test_every_stage_ran_without_errors(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    assert results["errors"] == []
    for stage in (
        "parity",
        "predictor",
        "e2e",
        "batch",
        "e2e_postgresql",
        "batch_postgresql",
        "floor",
        "http_floor",
        "profile",
        "challenger",
        "portfolio",
    ):
        assert stage in results, stage
    assert (results["e2e"]["inference_log"], results["e2e_postgresql"]["inference_log"]) == (
        "sqlite",
        "postgresql",
    )
    assert results["parity"]["ours-predictor"]["max_abs_pd_difference"] < 1e-5
    assert results["parity"]["stock-predictor"]["max_abs_pd_difference"] < 1e-5


@pytest.mark.parametrize(
    ("section", "targets"),
    [
        ("predictor", ("ours", "stock-kserve")),
        ("e2e", ("ours-e2e", "stock-pair")),
        ("batch", ("ours-batch", "stock-pair-batch")),
        ("e2e_postgresql", ("ours-e2e-postgresql", "stock-pair")),
        ("batch_postgresql", ("ours-batch-postgresql", "stock-pair-batch")),
    ],
)
def test_side_by_side_runs_are_complete(
    run: tuple[dict[str, Any], Path], section: str, targets: tuple[str, ...]
) -> None:
    results, _ = run
    data = results[section]
    concurrencies = (1,) if section.startswith("batch") else (1, 4)
    for target in targets:
        rows = _rows(data, target)
        assert sorted(r["concurrency"] for r in rows) == list(concurrencies), target
        for r in rows:
            assert r["requests"] > 0, r
            assert r["errors"] == 0, r
            assert 0 < r["p50_ms"] <= r["p99_ms"], r
            assert min(r["throughput"], r["server_cpu_us"], r["client_cpu_us"]) > 0, r
    # Interleaved: within each round and concurrency, every target ran once.
    for rnd in {r["round"] for r in data["runs"]}:
        for c in concurrencies:
            ran = sorted(r["target"] for r in data["runs"] if r["round"] == rnd and r["concurrency"] == c)
            assert ran == sorted(targets)


def test_batches_carry_their_applications(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    (row,) = _rows(results["batch"], "ours-batch")
    assert results["batch"]["batch_size"] == 50
    assert row["items_per_second"] == pytest.approx(row["throughput"] * 50, rel=0.01)


def test_transformer_stage_timings_are_reported(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    for section, target in (
        ("e2e", "ours-e2e"),
        ("batch", "ours-batch"),
        ("e2e_postgresql", "ours-e2e-postgresql"),
        ("batch_postgresql", "ours-batch-postgresql"),
    ):
        for row in _rows(results[section], target):
            assert set(row["stage_ms"]) >= {"validate", "features", "predict", "answer"}, row
            assert all(v > 0 for v in row["stage_ms"].values()), row
            assert sum(row["stage_ms"].values()) < row["p99_ms"] * 1.5, row


def test_floor_and_profile(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    floor = results["floor"]
    assert set(floor["single_us"]) == set(STAGES) == set(floor["batch_us"])
    assert all(v > 0 for v in floor["single_us"].values())
    assert 0 < floor["adverse_share"] < 1
    assert floor["profile"]
    assert floor["profile"][0]["own_ms"] > 0
    assert floor["reference_us"]["xgboost_treeshap_1_row"] > 0
    assert floor["reference_us"]["redis_ping_round_trip"] > 0
    for reader in ("direct", "feast_async"):  # both online-feature readers, timed side by side
        timed = {k: v for k, v in floor["reference_us"].items() if k.startswith(f"profiles_{reader}_")}
        assert len(timed) == 2, timed  # 1 applicant and many
        assert all(v > 0 for v in timed.values()), timed
    profile = results["profile"]
    if find_py_spy(
        [results["settings"]["mlserver_venv"] and Path(results["settings"]["mlserver_venv"]) / "bin"]
    ):
        for scenario in ("e2e", "batch"):
            for process in ("ours-transformer", "ours-predictor"):
                assert profile[scenario][process]["samples"] > 0, (scenario, process)
    else:
        assert "py-spy" in profile["skipped"]


CHALLENGER_SERVERS = {"ours-challenger-predictor", "ours-transformer-shadow", "ours-transformer-split"}


def test_challenger_stage_compares_answers_and_fixed_rate_p99(run: tuple[dict[str, Any], Path]) -> None:
    """Shadow and split:50 beside no challenger: answers compared, open-loop runs at half the
    champion-only maximum, interleaved, and the issue's two targets computed from them."""
    results, _ = run
    stage = results["challenger"]
    answers = stage["answers"]
    assert answers["applications"] > 0
    assert answers["shadow_changed_answers"] == 0
    assert answers["split_champion_answers_changed"] == 0
    assert answers["split_sides_moved_on_second_pass"] == 0
    assert answers["split_roles_seen"] == ["challenger", "champion"]
    assert 0.2 < answers["split_challenger_share"] < 0.8
    assert stage["rate"] == pytest.approx(stage["max_rate"]["throughput"] / 2)
    assert stage["concurrency"] == 4
    for target in ("ours-e2e-none", "ours-e2e-shadow", "ours-e2e-split50"):
        (row,) = [r for r in stage["runs"] if r["target"] == target]  # one round in the quick run
        assert row["requests"] > 0, row
        assert row["errors"] == 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"], row
        # Open loop: no more requests than the schedule allows in the window.
        assert row["requests"] <= stage["rate"] * row["seconds"] + 1, row
    checks = {c["name"]: c for c in results["targets"]}
    assert checks["shadow: champion answers unchanged"]["passed"] is True
    (p99,) = [c for c in checks.values() if c["name"].startswith("shadow p99 at half")]
    assert p99["passed"] in (True, False)
    assert "shadow/none p99" in p99["measured"]
    # Its servers ran for the stage only, and are accounted for.
    assert set(results["configurations"]) >= CHALLENGER_SERVERS
    assert set(results["memory"]) >= CHALLENGER_SERVERS


def test_http_floor_on_every_server(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    floor = {k: v for k, v in results["http_floor"].items() if k != "seconds"}
    assert set(floor) == set(results["configurations"]) - CHALLENGER_SERVERS
    for name, row in floor.items():
        assert row["errors"] == 0, name
        assert 0 < row["p50_ms"] <= row["p99_ms"], name


def test_memory_machine_versions_configurations(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    started = {
        "ours-predictor",
        "ours-transformer",
        "ours-transformer-pg",
        "stock-predictor",
        "stock-transformer",
        *CHALLENGER_SERVERS,
    }
    assert set(results["memory"]) == started
    assert all(p["peak_rss_mib"] > 10 for procs in results["memory"].values() for p in procs)
    assert set(results["configurations"]) == started
    assert results["machine"]["usable_cpus"] >= 1
    assert results["machine"]["kernel"]
    assert results["versions"]["ours"]["kserve"] == "0.21.0"
    assert int(results["model"]["trees"]) > 0
    assert results["model"]["features"] == str(len(feature_names()))


def test_nothing_is_left_running(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    for name, config in results["configurations"].items():
        assert not Path(f"/proc/{config['pid']}").exists(), f"{name} (pid {config['pid']}) still runs"


def test_targets_and_report(run: tuple[dict[str, Any], Path]) -> None:
    results, out = run
    checks = {c["name"]: c for c in results["targets"]}
    assert checks["predictor vs best MLServer"]["passed"] is None  # MLServer not run here
    for suffix in ("", " (inference log on PostgreSQL)"):
        names = {f"end to end vs stock KServe pair at c=4{suffix}", f"end to end p50 at c=1{suffix}"}
        assert names <= set(checks)
        assert checks[f"end to end errors{suffix}"]["passed"] is True
    saved = json.loads((out / "results.json").read_text())
    assert saved["predictor"]["summary"] == json.loads(json.dumps(results["predictor"]["summary"]))
    report = (out / "report.md").read_text()
    assert report == render(saved)
    assert "| scenario | peer | c | throughput ours / peer |" in report
    side_by_side = report.split("## Side by side", 1)[1].split("## Targets", 1)[0]
    headline = [
        line
        for line in side_by_side.splitlines()
        if line.startswith(("| predictor", "| end to end", "| batch"))
    ]
    # vs stock at c=1 and c=4; per inference-log database: e2e at c=1 and c=4, batch at c=1.
    assert len(headline) == 2 + 2 * (2 + 1)
    assert any("PostgreSQL log" in line for line in headline)
    assert any("stock kserve.Model" in line for line in headline)
    for section in (
        "## Targets",
        "## Floor",
        "## Where the time goes",
        "## Peak RSS",
        "## Configurations",
        "## Method",
    ):
        assert section in report, section


def test_portfolio_stage_scores_with_the_command_and_checks_the_reasons(
    run: tuple[dict[str, Any], Path],
) -> None:
    results, out = run
    runs = results["portfolio"]["runs"]
    assert [(r["engine"], r["rows"]) for r in runs] == [("local", 10_000), ("local", 20_000)]
    for r in runs:
        assert r["scored"] + r["rejected"] == r["rows"]
        assert r["rejected"] > 0  # the synthetic portfolio carries invalid rows
        assert r["adverse_without_reasons"] == 0
        assert r["rows_per_second"] > 0
        assert r["rows_per_cpu_second"] > 0
        assert r["cpu_seconds"] > 1  # the workers' CPU is counted, not only the driver's
        assert r["peak_rss_mib"] > 100  # driver and workers
        assert r["workers"] >= 1
    check = results["portfolio"]["reasons_check"]
    assert check["rows_checked"] > 50
    assert check["mismatched"] == 0
    names = {c["name"] for c in results["targets"]}
    assert "portfolio of 20,000, local engine (" + str(runs[-1]["workers"]) + " workers)" in names
    assert "portfolio peak RSS, 10,000 vs 20,000 applications" in names
    assert "## Portfolio batch scoring" in (out / "report.md").read_text()
    assert not list((out / "portfolio").glob("*.parquet"))  # the portfolios are not kept


def test_portfolio_stage_alone_needs_no_server() -> None:
    assert BenchSettings.quick(stages=("portfolio",)).needs_servers is False
    assert BenchSettings.quick(stages=("portfolio", "e2e")).needs_servers is True


def test_settings_refuse_unknown_stages() -> None:
    with pytest.raises(ValueError, match="unknown stages"):
        BenchSettings(stages=("portfolio", "warp"))


def test_missing_mlserver_venv_is_a_clear_error(tmp_path: Path) -> None:
    settings = BenchSettings.quick(out_dir=tmp_path, mlserver_venv=tmp_path / "nowhere")
    harness = Harness(settings, progress=lambda _: None)
    with pytest.raises(BenchError, match="make bench"):
        harness._start_mlserver("pw0-omp1")


def test_settings_refuse_unknown_peers() -> None:
    with pytest.raises(ValueError, match="unknown peers"):
        BenchSettings(peers=("triton",))

"""The benchmark run: servers up, parity checked, interleaved rounds, floor, profile, results.

Stages, each bounded and each recorded in ``results.json`` (a stage that fails is recorded with
its error and the run goes on with the others; the exit status says something failed):

1. environment (``bench.environment``): data, Redis + Feast, MLflow, a trained model, its file;
   a PostgreSQL server for the inference log (``bench.postgres``);
2. servers (``bench.servers``): our predictor and transformers (the containers' commands; one
   transformer logging to SQLite, one to PostgreSQL), the stock ``kserve.Model`` pair, MLServer in
   each configuration tried;
3. parity (``bench.parity``): every predictor gives the booster file's PD for the same rows, our
   transformer gives well-formed answers, before anything is timed;
4. MLServer tuning at the top concurrency (interleaved), the best configurations kept;
5. predictor alone, v2 REST: ours, best MLServer, stock kserve, interleaved at each concurrency;
6. end to end: our transformer (features, reasons, inference log) vs the stock forwarding pair,
   with the inference log on SQLite (``e2e``) and on PostgreSQL (``e2e_postgres``);
7. batch: ``batch_size`` applications per request through our pair (stock pair as reference),
   SQLite (``batch``) and PostgreSQL (``batch_postgres``);
8. floor: the same work in this process, no HTTP (``bench.floor``), with a cProfile, and the two
   online-feature readers timed side by side;
9. profile: py-spy on our predictor and transformer under end-to-end load;
9b. challenger: shadow and split:50 transformers beside the no-challenger one: answers unchanged,
    p99 at half the champion-only maximum rate (``bench.challenger``);
10. peak RSS of every server process, machine, versions, configurations;
11. portfolio: synthetic portfolios (100,000 and 1,000,000 applications) through
    ``credit-scoring batch-score``, local engine and Spark local[2] (``bench/portfolio.py``).

``--stages`` runs a subset; without a server stage (``--stages portfolio``) no server starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import BenchError, machine, parity, profiling, stats, targets
from bench.challenger import challenger_stage
from bench.environment import BenchEnv, build_environment
from bench.loadgen import Target, build_request, run_load
from bench.mlserver_peer import CONFIGS
from bench.postgres import PostgresServer, start_postgres
from bench.runs import MLSERVER_BEST, Bench, Runner, best_of
from bench.servers import CHALLENGER_PREDICTOR, CHALLENGER_TRANSFORMERS, REPO, TRANSFORMERS, Servers
from bench.settings import BenchSettings
from cli.stack.supervisor import LOCALHOST, ProcessGroup, Supervised

__all__ = ["Harness", "run_benchmark"]

Progress = Callable[[str], None]


@dataclass
class _State:
    memory: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    mlserver_kept: list[tuple[Supervised, list[str]]] = field(default_factory=list)


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (file descriptors 1 and 2: Feast's, MLflow's and tqdm's
    chatter during setup) to a log file; the progress lines go to a copy of the terminal."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class Harness:
    def __init__(self, settings: BenchSettings, progress: Progress) -> None:
        self.settings = settings
        self.progress = progress
        self.out = settings.out_dir.resolve()
        self.procs = ProcessGroup(self.out / "logs", settings.ready_timeout_seconds)
        self.servers = Servers(self.procs, settings, self.out, progress)
        self.runner = Runner(settings, progress)
        self.state = _State()
        self.env: BenchEnv | None = None
        self.results: dict[str, Any] = {"schema": "credit-scoring-bench/1", "errors": []}

    # ------------------------------------------------------------------ entry
    def run(self, env: BenchEnv | None = None) -> dict[str, Any]:
        s = self.settings
        started = time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        # Logs and profiles of this run only (servers append to their log files).
        for folder in ("logs", "profile"):
            shutil.rmtree(self.out / folder, ignore_errors=True)
        self.results["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
        self.results["machine"] = machine.machine_details(REPO)
        mlserver_python = s.mlserver_venv / "bin" / "python"
        self.results["versions"] = machine.versions(mlserver_python if "mlserver" in s.peers else None)
        self.results["settings"] = orjson.loads(s.model_dump_json())
        try:
            with self.procs.running():
                if env is None:
                    with _output_to(self.out / "logs" / "setup.log"):
                        env = build_environment(
                            self.out, self.procs, workload_size=s.workload_size, progress=self.progress
                        )
                self.env = env
                self.results["model"] = {
                    **{k: str(v) for k, v in asdict(env.model).items()},
                    "model_uri": env.model_uri,
                    "workload_applications": len(env.workload.applications),
                }
                if s.needs_servers:
                    self._start_servers(env)
                self._stages(env)
                for name, server in self.servers.running.items():
                    self._remember_memory(name, server)
        finally:
            if self.state.postgres is not None:
                self.state.postgres.remove()
        self.results["configurations"] = self.servers.configurations
        self.results["memory"] = self.state.memory
        self.results["targets"] = stats.target_checks(self.results)
        self.results["load_average_at_end"] = machine.load_average()
        self.results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.results["duration_seconds"] = round(time.time() - started, 1)
        return self.results

    def _start_servers(self, env: BenchEnv) -> None:
        postgres_url = env.inference_log_postgres
        if postgres_url is None and self.settings.postgres:
            self.progress("PostgreSQL for the inference log")
            self.state.postgres = start_postgres(self.procs)
            postgres_url = self.state.postgres.url
        self.servers.start_ours(env, postgres_url)
        if "kserve" in self.settings.peers:
            self.servers.start_stock(env)

    def _stages(self, env: BenchEnv) -> None:
        s = self.settings
        self._stage("parity", self._parity)
        if "mlserver" in s.peers:
            self._stage("mlserver_tuning", self._tune_mlserver)
        self._stage("predictor", self._predictor_alone)
        for database in TRANSFORMERS:
            if TRANSFORMERS[database] not in self.servers.running:
                continue
            suffix = "" if database == "sqlite" else f"_{database}"
            self._stage(f"e2e{suffix}", lambda d=database: self._end_to_end(d))  # type: ignore[misc]
            self._stage(f"batch{suffix}", lambda d=database: self._batch(d))  # type: ignore[misc]
        self._stage("floor", self._floor)
        self._stage("http_floor", self._http_floor)
        if s.profile:
            self._stage("profile", self._profile)
        self._stage("challenger", self._challenger)
        self._stage("portfolio", self._portfolio)

    def _stage(self, name: str, fn: Callable[[], dict[str, Any] | None]) -> None:
        # ``e2e`` and ``batch`` in --stages select both inference-log databases (``e2e_postgresql``...).
        if name.removesuffix("_postgresql") not in self.settings.stages:
            return
        self.progress(f"== {name}")
        t = time.monotonic()
        try:
            out = fn()
        except Exception as exc:  # one failed stage must not lose the others' results
            self.progress(f"!! {name} failed: {exc}")
            self.results["errors"].append(
                {
                    "stage": name,
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc()[-2000:],
                }
            )
            return
        if out is not None:
            out["seconds"] = round(time.monotonic() - t, 1)
            self.results[name] = out

    def _remember_memory(self, name: str, server: Supervised) -> None:
        usage = [asdict(u) for u in server.usage()]
        if usage:
            self.state.memory[name] = usage

    def _start_mlserver(self, name: str) -> Supervised:
        return self.servers.start_mlserver(name, self.env)

    @property
    def _env(self) -> BenchEnv:
        if self.env is None:
            raise BenchError("the benchmark environment is not built yet")
        return self.env

    # ------------------------------------------------------------------ targets
    def _predictor_target(
        self,
        name: str,
        server: Supervised,
        outputs: Sequence[str],
        check_outputs: Sequence[str],
        servers: list[Supervised] | None = None,
        rows_per_request: int = 1,
    ) -> Bench:
        rows = self._env.workload.rows
        return targets.predictor(name, server, rows, outputs, check_outputs, servers, rows_per_request)

    def _stock_pair(self, name: str, rows_per_request: int = 1) -> Bench:
        return targets.stock_pair(name, self.servers.running, self._env.workload.rows, rows_per_request)

    def _ours_e2e_target(self, database: str = "sqlite") -> Bench:
        return targets.ours_e2e(self.servers.running, self._env.workload, self.servers.api_key, database)

    def _ours_batch_target(self, database: str = "sqlite") -> Bench:
        return targets.ours_batch(
            self.servers.running, self._env.workload, self.settings.batch_size, self.servers.api_key, database
        )

    # ------------------------------------------------------------------ stages
    def _parity(self) -> dict[str, Any]:
        return parity.check_parity(self._env, self.servers.running, self.servers.api_key)

    def _tune_mlserver(self) -> dict[str, Any]:
        s = self.settings
        top = max(s.concurrencies)
        started: dict[str, Supervised] = {}
        for name in s.mlserver_configs:
            if name not in CONFIGS:
                raise BenchError(f"unknown MLServer configuration {name!r}; known: {sorted(CONFIGS)}")
            started[name] = self._start_mlserver(name)
        outputs, pd_difference = parity.mlserver_outputs(self._env, next(iter(started.values())))
        benches = [
            self._predictor_target(f"mlserver-{name}", server, outputs, outputs)
            for name, server in started.items()
        ]
        runs = self.runner.interleave(benches, [top], s.tuning_repeats, duration=s.tuning_duration_seconds)
        summary = stats.summarise_runs(runs)
        ok = [r for r in summary if r["errors"] == 0 and r["throughput"]]
        if not ok:
            raise BenchError("no MLServer configuration answered without errors")
        ranked = sorted(ok, key=lambda r: r["throughput"] or 0, reverse=True)
        kept = [r["target"].removeprefix("mlserver-") for r in ranked[: s.mlserver_keep]]
        for name, server in started.items():
            if name not in kept:
                self._remember_memory(f"mlserver-{name}", server)
                self.servers.stop(f"mlserver-{name}")
        self.state.mlserver_kept = [(started[name], outputs) for name in kept]
        return {
            "concurrency": top,
            "configs": {n: CONFIGS[n].description for n in started},
            "output": outputs[0],
            "max_abs_pd_difference": pd_difference,
            "runs": runs,
            "summary": summary,
            "best": kept[0],
            "kept": kept,
            "best_target": MLSERVER_BEST,
        }

    def _predictor_alone(self) -> dict[str, Any]:
        s = self.settings
        running = self.servers.running
        benches = [self._predictor_target("ours", running["ours-predictor"], (), ("probability",))]
        for server, outputs in self.state.mlserver_kept:
            benches.append(self._predictor_target(server.name, server, outputs, outputs))
        if "stock-predictor" in running:
            benches.append(
                self._predictor_target("stock-kserve", running["stock-predictor"], (), ("probability",))
            )
        runs = self.runner.interleave(benches, s.concurrencies, s.repeats)
        runs += best_of(runs, [b.target.name for b in benches if b.target.name.startswith("mlserver-")])
        return {
            "top_concurrency": max(s.concurrencies),
            "runs": runs,
            "summary": stats.summarise_runs(runs),
            "targets": [b.target.name for b in benches],
        }

    def _end_to_end(self, database: str) -> dict[str, Any]:
        s = self.settings
        benches = [self._ours_e2e_target(database)]
        if "stock-transformer" in self.servers.running:
            benches.append(self._stock_pair("stock-pair"))
        # Every 10th answer is decoded and checked (decision, PD, reasons on refer/decline).
        runs = self.runner.interleave(benches, s.concurrencies, s.repeats, check_every=10)
        return {
            "inference_log": database,
            "top_concurrency": max(s.concurrencies),
            "low_concurrency": min(s.concurrencies),
            "runs": runs,
            "summary": stats.summarise_runs(runs),
            "targets": [b.target.name for b in benches],
        }

    def _batch(self, database: str) -> dict[str, Any]:
        s = self.settings
        ours = self._ours_batch_target(database)
        benches = [ours]
        size = ours.target.items_per_request
        if "stock-transformer" in self.servers.running:
            benches.append(self._stock_pair("stock-pair-batch", rows_per_request=size))
        # Every batch answer is checked: all answers present, reasons for every refer/decline.
        runs = self.runner.interleave(benches, s.batch_concurrencies, s.repeats, check_every=1)
        return {
            "inference_log": database,
            "batch_size": size,
            "runs": runs,
            "summary": stats.summarise_runs(runs),
            "targets": [b.target.name for b in benches],
        }

    def _http_floor(self) -> dict[str, Any]:
        """One HTTP round trip that does nothing (``GET /v2/health/live``, c=1) on each server:
        the transport's share of a 1-row request, measured with the same client."""
        out: dict[str, Any] = {}
        for name, server in self.servers.running.items():
            request = build_request(LOCALHOST, server.port, "/v2/health/live", b"", method="GET")
            bench = Bench(Target(f"{name} GET /v2/health/live", LOCALHOST, server.port, [request]), [server])
            result = self.runner.run(bench, 1, 1, duration=min(self.settings.duration_seconds, 1.5))
            out[name] = {k: result[k] for k in ("p50_ms", "p99_ms", "throughput", "errors", "server_cpu_us")}
        return out

    def _challenger(self) -> dict[str, Any]:
        try:
            return challenger_stage(self.servers, self._env, self.settings, self.progress)
        finally:  # its servers run for this stage only
            for name in (CHALLENGER_PREDICTOR, *CHALLENGER_TRANSFORMERS.values()):
                if name in self.servers.running:
                    self._remember_memory(name, self.servers.running[name])
                    self.servers.stop(name)

    def _floor(self) -> dict[str, Any]:
        from bench.floor import measure_floor

        s = self.settings
        floor = measure_floor(
            self._env, rows=s.floor_rows, batches=s.floor_batches, batch_size=s.batch_size, profile=s.profile
        )
        return asdict(floor)

    def _portfolio(self) -> dict[str, Any]:
        """Synthetic portfolios through ``credit-scoring batch-score`` (``bench/portfolio.py``)."""
        from batch.features import profile_source
        from bench.portfolio import measure_portfolio
        from feature_store import open_store

        env, s = self._env, self.settings
        run_env = {
            **os.environ,
            **env.server_env,
            "MLFLOW_TRACKING_URI": env.tracking_uri,
            "CREDIT_HOME": str(env.home),
            "CREDIT_FEATURE_REPO": str(env.feature_repo),
            "CREDIT_FEATURE_STORE_CONFIG": str(env.feature_store_config),
            "CREDIT_BATCH_MODEL_URI": env.model_uri,
        }
        source = profile_source(open_store(env.feature_store_config, env.feature_repo, run_env))
        work = self.out / "portfolio"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            return measure_portfolio(
                run_env,
                work,
                source.path,
                source,
                env.model.booster_file,
                tuple(sorted(s.portfolio_rows)),
                s.portfolio_spark_rows or None,
                self.progress,
            )
        finally:
            for data in work.glob("*.parquet"):  # the portfolios and answers (logs stay)
                shutil.rmtree(data, ignore_errors=True) if data.is_dir() else data.unlink()
            for data in work.glob("scores-*"):
                shutil.rmtree(data, ignore_errors=True)

    def _profile(self) -> dict[str, Any]:
        s = self.settings
        py_spy = profiling.find_py_spy([s.mlserver_venv / "bin", Path(sys.executable).parent])
        if py_spy is None:
            return {"skipped": "py-spy not found (make bench installs it into bench/.venv-mlserver)"}
        running = self.servers.running
        pids = {name: running[name].pid for name in ("ours-transformer", "ours-predictor")}
        top = max(s.concurrencies)
        out: dict[str, Any] = {"py_spy": py_spy, "seconds": s.profile_seconds}
        for scenario, bench, concurrency in (
            ("e2e", self._ours_e2e_target(), top),
            ("batch", self._ours_batch_target(), 1),
        ):
            self.progress(f"  py-spy: {scenario} at c={concurrency} for {s.profile_seconds:.0f}s")
            out[scenario] = profiling.record(
                py_spy,
                pids,
                s.profile_seconds,
                self.out / "profile" / scenario,
                lambda b=bench, c=concurrency: run_load(  # type: ignore[misc]
                    b.target,
                    c,
                    duration=s.profile_seconds + 1.5,
                    warmup=0.0,
                    max_requests=s.max_requests,
                    timeout=s.request_timeout_seconds,
                ),
            )
        return out


def run_benchmark(
    settings: BenchSettings, env: BenchEnv | None = None, progress: Progress = print
) -> dict[str, Any]:
    """Run everything; write results.json and report.md into ``settings.out_dir``; return the results."""
    from bench.report import write_outputs

    harness = Harness(settings, progress)
    try:
        results = harness.run(env)
    except BaseException as exc:
        harness.results["errors"].append({"stage": "run", "error": f"{type(exc).__name__}: {exc}"})
        with contextlib.suppress(Exception):
            write_outputs(harness.results, settings.out_dir)
        raise
    write_outputs(results, settings.out_dir)
    return results

"""The benchmark run: servers up, parity checked, interleaved rounds, floor, profile, results.

Stages, each bounded and each recorded in ``results.json`` (a stage that fails is recorded with
its error and the run goes on with the others; the exit status says something failed):

1. environment (``bench.environment``): data, Redis + Feast, MLflow, a trained model, its file;
2. servers: our predictor and transformer (the containers' commands), the stock ``kserve.Model``
   predictor and forwarding transformer (``bench/peers``), MLServer in each configuration tried;
3. parity: every predictor gives the booster file's PD for the same rows, our transformer gives
   well-formed answers, before anything is timed;
4. MLServer tuning at the top concurrency (interleaved), the best configuration kept;
5. predictor alone, v2 REST: ours, best MLServer, stock kserve, interleaved at each concurrency;
6. end to end: our transformer (features, reasons, inference log) vs the stock forwarding pair;
7. batch: ``batch_size`` applications per request through our pair (stock pair as reference);
8. floor: the same work in this process, no HTTP (``bench.floor``), with a cProfile;
9. profile: py-spy on our predictor and transformer under end-to-end load;
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

import httpx
import numpy as np
import orjson

from bench import BenchError, machine, payloads, profiling, stats
from bench.environment import BenchEnv, build_environment
from bench.loadgen import LoadResult, Target, build_request, run_load
from bench.mlserver_peer import CONFIGS, layout
from bench.settings import BenchSettings
from cli.stack.components import (
    PREDICTOR_MODEL,
    TRANSFORMER_MODEL,
    model_ready_path,
    predictor_command,
    transformer_command,
)
from cli.stack.supervisor import LOCALHOST, ProcessGroup, Supervised, free_port, http_ready

__all__ = ["Harness", "run_benchmark"]

REPO = Path(__file__).resolve().parent.parent
MODEL = "credit-risk"
_JSON = {"content-type": "application/json"}
MLSERVER_BEST = "mlserver-best"
Progress = Callable[[str], None]


@dataclass
class _Bench:
    """One load target and the servers whose CPU it costs."""

    target: Target
    servers: list[Supervised]
    stage_metrics: str | None = None
    """Our transformer's /metrics: mean time per scoring stage during each run."""

    def cpu(self) -> float:
        return sum(s.cpu_seconds() for s in self.servers)


def _stage_totals(metrics_url: str) -> dict[str, list[float]]:
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


@dataclass
class _State:
    servers: dict[str, Supervised] = field(default_factory=dict)
    configurations: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _best_of(runs: list[dict[str, Any]], peers: list[str]) -> list[dict[str, Any]]:
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
        self.state = _State()
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
                self._start_servers()
            self._stage("parity", self._parity)
            if "mlserver" in s.peers:
                self._stage("mlserver_tuning", self._tune_mlserver)
            self._stage("predictor", self._predictor_alone)
            self._stage("e2e", self._end_to_end)
            self._stage("batch", self._batch)
            self._stage("floor", self._floor)
            self._stage("http_floor", self._http_floor)
            if s.profile:
                self._stage("profile", self._profile)
            self._stage("portfolio", self._portfolio)
            for name, server in self.state.servers.items():
                self._remember_memory(name, server)
        self.results["configurations"] = self.state.configurations
        self.results["memory"] = self.state.memory
        self.results["targets"] = stats.target_checks(self.results)
        self.results["load_average_at_end"] = machine.load_average()
        self.results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.results["duration_seconds"] = round(time.time() - started, 1)
        return self.results

    def _stage(self, name: str, fn: Callable[[], dict[str, Any] | None]) -> None:
        if name not in self.settings.stages:
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

    # ------------------------------------------------------------------ servers
    def _start(
        self,
        name: str,
        argv: list[str],
        port: int,
        *,
        env: dict[str, str] | None = None,
        description: str,
        ready_path: str,
        unset: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> Supervised:
        self.progress(f"starting {name} on {LOCALHOST}:{port}")
        server = self.procs.start(
            name,
            argv,
            port=port,
            ready=http_ready(f"http://{LOCALHOST}:{port}{ready_path}"),
            env=env,
            unset=unset,
            cwd=cwd or REPO,
        )
        self.state.servers[name] = server
        self.state.configurations[name] = {
            "description": description,
            "command": " ".join(a if a != sys.executable else "python" for a in argv),
            "env": {k: v for k, v in (env or {}).items() if k.startswith(("OMP_", "CREDIT_NTHREAD"))},
            "pid": server.pid,
        }
        return server

    def _start_servers(self) -> None:
        env = self.env
        common = {**env.server_env, "CREDIT_HOME": str(env.home)}
        p_http, p_grpc = free_port(), free_port()
        self._start(
            "ours-predictor",
            predictor_command(p_http, p_grpc, "--bind_address", LOCALHOST, "--model_uri", env.model_uri),
            p_http,
            env=common,
            description="python -m predictor (container command): XGBoost threads from the CPU limit "
            "(CREDIT_NTHREAD default), micro-batching, fast v2 route",
            ready_path=model_ready_path(PREDICTOR_MODEL),
        )
        t_http, t_grpc = free_port(), free_port()
        self._start(
            "ours-transformer",
            transformer_command(f"{LOCALHOST}:{p_http}", t_http, t_grpc, "--bind_address", LOCALHOST),
            t_http,
            env={
                **common,
                "CREDIT_FEATURE_REPO": str(env.feature_repo),
                "CREDIT_FEATURE_STORE_CONFIG": str(env.feature_store_config),
                "CREDIT_INFERENCE_LOG": "true",
            },
            description="python -m transformer --predictor_protocol v2: Feast features from Redis, TreeSHAP "
            "reasons for refer/decline, inference log on (SQLite under CREDIT_HOME)",
            ready_path=model_ready_path(TRANSFORMER_MODEL),
        )
        if "kserve" in self.settings.peers:
            stock_flags = [
                "--enable_grpc",
                "false",
                "--enable_latency_logging",
                "false",
                "--configure_logging",
                "false",
            ]
            s_http = free_port()
            self._start(
                "stock-predictor",
                [
                    sys.executable,
                    "-m",
                    "bench.peers.kserve_predictor",
                    "--model_name",
                    MODEL,
                    "--model_file",
                    str(env.model.booster_file),
                    "--http_port",
                    str(s_http),
                    *stock_flags,
                ],
                s_http,
                env={"OMP_NUM_THREADS": "1"},
                description="stock kserve.Model + ModelServer (bench/peers/kserve_predictor.py): as_numpy + "
                "inplace_predict; 1 worker, OMP_NUM_THREADS=1, per-request latency/access logging off",
                ready_path=f"/v2/models/{MODEL}/ready",
            )
            st_http = free_port()
            self._start(
                "stock-transformer",
                [
                    sys.executable,
                    "-m",
                    "bench.peers.kserve_transformer",
                    "--model_name",
                    MODEL,
                    "--predictor_host",
                    f"{LOCALHOST}:{s_http}",
                    "--predictor_protocol",
                    "v2",
                    "--http_port",
                    str(st_http),
                    *stock_flags,
                ],
                st_http,
                env={"OMP_NUM_THREADS": "1"},
                description="stock kserve.Model transformer (bench/peers/kserve_transformer.py): KServe's "
                "own predict() forwards v2 REST to stock-predictor; no features, no reasons, no logging",
                ready_path=f"/v2/models/{MODEL}/ready",
            )

    def _start_mlserver(self, name: str) -> Supervised:
        config = CONFIGS[name]
        mlserver = self.settings.mlserver_venv / "bin" / "mlserver"
        if not mlserver.exists():
            raise BenchError(f"{mlserver} not found: `make bench` creates {self.settings.mlserver_venv}")
        http, grpc, metrics = free_port(), free_port(), free_port()
        folder = layout(
            self.out / "mlserver", config, MODEL, self.env.model.booster_file, http, grpc, metrics
        )
        return self._start(
            f"mlserver-{name}",
            [str(mlserver), "start", str(folder)],
            http,
            env=dict(config.env),
            unset=("OMP_NUM_THREADS",) if "OMP_NUM_THREADS" not in config.env else (),
            description=f"MLServer xgboost runtime: {config.description}",
            ready_path=f"/v2/models/{MODEL}/ready",
            cwd=folder,
        )

    # ------------------------------------------------------------------ targets
    def _rows(self, n: int) -> np.ndarray:
        return self.env.workload.rows[:n]

    def _predictor_target(
        self,
        name: str,
        server: Supervised,
        outputs: Sequence[str],
        check_outputs: Sequence[str],
        servers: list[Supervised] | None = None,
        rows_per_request: int = 1,
    ) -> _Bench:
        rows = self.env.workload.rows
        pool = min(len(rows) // rows_per_request, 512)
        path = f"/v2/models/{MODEL}/infer"
        requests = [
            build_request(
                LOCALHOST,
                server.port,
                path,
                payloads.predictor_body(rows[k * rows_per_request : (k + 1) * rows_per_request], outputs),
            )
            for k in range(pool)
        ]
        check = payloads.check_probability(check_outputs, rows_per_request)
        return _Bench(
            Target(name, LOCALHOST, server.port, requests, check, rows_per_request), servers or [server]
        )

    def _ours_e2e_target(self) -> _Bench:
        t = self.state.servers["ours-transformer"]
        apps = self.env.workload.applications[:512]
        requests = [
            build_request(
                LOCALHOST, t.port, "/v2/models/credit-scoring/infer", payloads.transformer_v2_body([a])
            )
            for a in apps
        ]
        return _Bench(
            Target("ours-e2e", LOCALHOST, t.port, requests, payloads.check_credit_answer),
            [t, self.state.servers["ours-predictor"]],
            f"{t.url}/metrics",
        )

    def _ours_batch_target(self) -> _Bench:
        t = self.state.servers["ours-transformer"]
        apps = self.env.workload.applications
        size = min(self.settings.batch_size, len(apps))
        doubled = apps * 2
        requests = [
            build_request(
                LOCALHOST,
                t.port,
                "/v1/models/credit-scoring:predict",
                payloads.transformer_v1_body(doubled[k * 131 % len(apps) :][:size]),
            )
            for k in range(8)
        ]
        return _Bench(
            Target("ours-batch", LOCALHOST, t.port, requests, payloads.check_batch_answers(size), size),
            [t, self.state.servers["ours-predictor"]],
            f"{t.url}/metrics",
        )

    def _run(
        self,
        bench: _Bench,
        concurrency: int,
        rnd: int,
        *,
        duration: float | None = None,
        check_every: int = 50,
    ) -> dict[str, Any]:
        s = self.settings
        before = _stage_totals(bench.stage_metrics) if bench.stage_metrics else None
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
            after = _stage_totals(bench.stage_metrics)
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

    def _interleave(
        self,
        benches: Sequence[_Bench],
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
                    runs.append(self._run(bench, c, rnd, duration=duration, check_every=check_every))
        return runs

    # ------------------------------------------------------------------ stages
    def _parity(self) -> dict[str, Any]:
        """Same rows, same PD from every predictor; our transformer's answers well-formed."""
        import xgboost as xgb

        booster = xgb.Booster(model_file=str(self.env.model.booster_file))
        booster.set_param({"nthread": 1})
        rows = self._rows(16)
        expected = booster.inplace_predict(rows)
        out: dict[str, Any] = {"rows": len(rows)}
        with httpx.Client(timeout=30, headers=_JSON) as client:

            def pds(server: Supervised, outputs: Sequence[str], names: Sequence[str]) -> list[float]:
                got = []
                for r in rows:
                    resp = client.post(
                        f"{server.url}/v2/models/{MODEL}/infer",
                        content=payloads.predictor_body(r[None, :], outputs),
                    )
                    resp.raise_for_status()
                    output = next(o for o in resp.json()["outputs"] if o["name"] in names)
                    got.append(float(output["data"][-1]))
                return got

            checks = {"ours-predictor": pds(self.state.servers["ours-predictor"], (), ("probability",))}
            if "stock-predictor" in self.state.servers:
                checks["stock-predictor"] = pds(self.state.servers["stock-predictor"], (), ("probability",))
            for name, got in checks.items():
                diff = float(np.max(np.abs(np.array(got) - expected)))
                out[name] = {"max_abs_pd_difference": diff}
                if diff > 1e-5:
                    raise BenchError(f"{name} disagrees with the booster file (max |dPD| = {diff:.2e})")
            t = self.state.servers["ours-transformer"]
            apps = self.env.workload.applications[:16]
            resp = client.post(
                f"{t.url}/v1/models/credit-scoring:predict", content=payloads.transformer_v1_body(apps)
            )
            resp.raise_for_status()
            answers = resp.json()["predictions"]
            problem = payloads.check_batch_answers(len(apps))(resp.content)
            if problem is not None:
                raise BenchError(f"our transformer's answers are not well-formed: {problem}")
            served = np.array([a["pd"] for a in answers])
            same = np.abs(served - expected) < 1e-5
            # Equal when the online store holds the profile the workload rows were built from.
            out["transformer_pd_equals_workload_rows"] = f"{int(same.sum())}/{len(same)}"
            out["decisions"] = {
                d: sum(a["decision"] == d for a in answers) for d in ("approve", "refer", "decline")
            }
        return out

    def _tune_mlserver(self) -> dict[str, Any]:
        s = self.settings
        top = max(s.concurrencies)
        started: dict[str, Supervised] = {}
        for name in s.mlserver_configs:
            if name not in CONFIGS:
                raise BenchError(f"unknown MLServer configuration {name!r}; known: {sorted(CONFIGS)}")
            started[name] = self._start_mlserver(name)
        outputs, parity = self._mlserver_outputs(next(iter(started.values())))
        benches = [
            self._predictor_target(f"mlserver-{name}", server, outputs, outputs)
            for name, server in started.items()
        ]
        runs = self._interleave(benches, [top], s.tuning_repeats, duration=s.tuning_duration_seconds)
        summary = stats.summarise_runs(runs)
        ok = [r for r in summary if r["errors"] == 0 and r["throughput"]]
        if not ok:
            raise BenchError("no MLServer configuration answered without errors")
        ranked = sorted(ok, key=lambda r: r["throughput"] or 0, reverse=True)
        kept = [r["target"].removeprefix("mlserver-") for r in ranked[: s.mlserver_keep]]
        for name, server in started.items():
            if name not in kept:
                self._remember_memory(f"mlserver-{name}", server)
                self.procs.stop(server)
                self.state.servers.pop(f"mlserver-{name}", None)
        self.mlserver_kept = [(started[name], outputs) for name in kept]
        return {
            "concurrency": top,
            "configs": {n: CONFIGS[n].description for n in started},
            "output": outputs[0],
            "max_abs_pd_difference": parity,
            "runs": runs,
            "summary": summary,
            "best": kept[0],
            "kept": kept,
            "best_target": MLSERVER_BEST,
        }

    def _mlserver_outputs(self, server: Supervised) -> tuple[list[str], float]:
        """``predict_proba`` when the runtime offers it for this file, else ``predict`` (which is
        then the probability: the parity check below proves it)."""
        import xgboost as xgb

        booster = xgb.Booster(model_file=str(self.env.model.booster_file))
        rows = self._rows(4)
        expected = booster.inplace_predict(rows)
        for outputs in (["predict_proba"], ["predict"]):
            resp = httpx.post(
                f"{server.url}/v2/models/{MODEL}/infer",
                content=payloads.predictor_body(rows, outputs),
                headers=_JSON,
                timeout=30,
            )
            if resp.status_code != 200:
                continue
            data = np.array(resp.json()["outputs"][0]["data"], dtype=np.float64)
            pd = data[1::2] if data.size == 2 * len(rows) else data
            if pd.size == len(rows) and (diff := float(np.max(np.abs(pd - expected)))) < 1e-5:
                return outputs, diff
        raise BenchError(
            f"MLServer ({server.name}) gives neither predict_proba nor predict equal to the booster's PD"
        )

    def _predictor_alone(self) -> dict[str, Any]:
        s = self.settings
        benches = [self._predictor_target("ours", self.state.servers["ours-predictor"], (), ("probability",))]
        for server, outputs in getattr(self, "mlserver_kept", []):
            benches.append(self._predictor_target(server.name, server, outputs, outputs))
        if "stock-predictor" in self.state.servers:
            benches.append(
                self._predictor_target(
                    "stock-kserve", self.state.servers["stock-predictor"], (), ("probability",)
                )
            )
        runs = self._interleave(benches, s.concurrencies, s.repeats)
        runs += _best_of(runs, [b.target.name for b in benches if b.target.name.startswith("mlserver-")])
        return {
            "top_concurrency": max(s.concurrencies),
            "runs": runs,
            "summary": stats.summarise_runs(runs),
            "targets": [b.target.name for b in benches],
        }

    def _end_to_end(self) -> dict[str, Any]:
        s = self.settings
        benches = [self._ours_e2e_target()]
        if "stock-transformer" in self.state.servers:
            benches.append(
                self._predictor_target(
                    "stock-pair",
                    self.state.servers["stock-transformer"],
                    (),
                    ("probability",),
                    servers=[self.state.servers["stock-transformer"], self.state.servers["stock-predictor"]],
                )
            )
        # Every 10th answer is decoded and checked (decision, PD, reasons on refer/decline).
        runs = self._interleave(benches, s.concurrencies, s.repeats, check_every=10)
        return {
            "top_concurrency": max(s.concurrencies),
            "low_concurrency": min(s.concurrencies),
            "runs": runs,
            "summary": stats.summarise_runs(runs),
            "targets": [b.target.name for b in benches],
        }

    def _batch(self) -> dict[str, Any]:
        s = self.settings
        ours = self._ours_batch_target()
        benches = [ours]
        size = ours.target.items_per_request
        if "stock-transformer" in self.state.servers:
            benches.append(
                self._predictor_target(
                    "stock-pair-batch",
                    self.state.servers["stock-transformer"],
                    (),
                    ("probability",),
                    servers=[self.state.servers["stock-transformer"], self.state.servers["stock-predictor"]],
                    rows_per_request=size,
                )
            )
        # Every batch answer is checked: all answers present, reasons for every refer/decline.
        runs = self._interleave(benches, s.batch_concurrencies, s.repeats, check_every=1)
        return {
            "batch_size": size,
            "runs": runs,
            "summary": stats.summarise_runs(runs),
            "targets": [b.target.name for b in benches],
        }

    def _http_floor(self) -> dict[str, Any]:
        """One HTTP round trip that does nothing (``GET /v2/health/live``, c=1) on each server:
        the transport's share of a 1-row request, measured with the same client."""
        out: dict[str, Any] = {}
        for name, server in self.state.servers.items():
            request = build_request(LOCALHOST, server.port, "/v2/health/live", b"", method="GET")
            bench = _Bench(Target(f"{name} GET /v2/health/live", LOCALHOST, server.port, [request]), [server])
            result = self._run(bench, 1, 1, duration=min(self.settings.duration_seconds, 1.5))
            out[name] = {k: result[k] for k in ("p50_ms", "p99_ms", "throughput", "errors", "server_cpu_us")}
        return out

    def _floor(self) -> dict[str, Any]:
        from bench.floor import measure_floor

        s = self.settings
        floor = measure_floor(
            self.env, rows=s.floor_rows, batches=s.floor_batches, batch_size=s.batch_size, profile=s.profile
        )
        return asdict(floor)

    def _portfolio(self) -> dict[str, Any]:
        """Synthetic portfolios through ``credit-scoring batch-score`` (``bench/portfolio.py``)."""
        from batch.features import profile_source
        from bench.portfolio import measure_portfolio
        from feature_store import open_store

        env, s = self.env, self.settings
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
        pids = {name: self.state.servers[name].pid for name in ("ours-transformer", "ours-predictor")}
        e2e = self._ours_e2e_target()
        top = max(s.concurrencies)
        out: dict[str, Any] = {"py_spy": py_spy, "seconds": s.profile_seconds}
        self.progress(f"  py-spy: end to end at c={top} for {s.profile_seconds:.0f}s")
        out["e2e"] = profiling.record(
            py_spy,
            pids,
            s.profile_seconds,
            self.out / "profile" / "e2e",
            lambda: run_load(
                e2e.target,
                top,
                duration=s.profile_seconds + 1.5,
                warmup=0.0,
                max_requests=s.max_requests,
                timeout=s.request_timeout_seconds,
            ),
        )
        batch = self._ours_batch_target()
        self.progress(
            f"  py-spy: batches of {batch.target.items_per_request} at c=1 for {s.profile_seconds:.0f}s"
        )
        out["batch"] = profiling.record(
            py_spy,
            pids,
            s.profile_seconds,
            self.out / "profile" / "batch",
            lambda: run_load(
                batch.target,
                1,
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

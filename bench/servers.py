"""The servers of a benchmark run and how each is started.

Ours: ``python -m predictor`` and ``python -m transformer`` with the containers' command lines, the
transformer twice when PostgreSQL is available (inference log on SQLite, the embedded default,
and on PostgreSQL, the production setting). The stock KServe pair (``bench/peers``) and MLServer
in each configuration tried (``bench/mlserver_peer.py``, its own virtualenv).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import BenchError
from bench.environment import BenchEnv
from bench.mlserver_peer import CONFIGS, layout
from bench.settings import BenchSettings
from cli.stack.api_key import write_key_hashes
from cli.stack.components import (
    PREDICTOR_MODEL,
    TRANSFORMER_MODEL,
    model_ready_path,
    predictor_command,
    transformer_command,
)
from cli.stack.supervisor import LOCALHOST, ProcessGroup, Supervised, free_port, http_ready

__all__ = ["CHALLENGER_PREDICTOR", "CHALLENGER_TRANSFORMERS", "MODEL", "REPO", "TRANSFORMERS", "Servers"]

REPO = Path(__file__).resolve().parent.parent
MODEL = PREDICTOR_MODEL
# Our transformers by inference-log database: the name of the server and of the stages' targets.
TRANSFORMERS = {"sqlite": "ours-transformer", "postgresql": "ours-transformer-pg"}
# The challenger stage's servers (bench/challenger.py), started only for it.
CHALLENGER_PREDICTOR = "ours-challenger-predictor"
CHALLENGER_TRANSFORMERS = {"shadow": "ours-transformer-shadow", "split": "ours-transformer-split"}
Progress = Callable[[str], None]

# Our transformers run with authentication on (an API key, checked against its SHA-256 hash on
# every request) and the per-client token bucket on: the production code path. Its budget is
# the bench's, not production's: the default (TransformerSettings, the chart's rateLimit: 200
# requests per second and a burst of 400 per client) would answer most of the bench's single
# client's requests with 429 (it sends 380-830 req/s end to end, bench report of 2026-11-30
# 16:37), measuring the limiter instead of the capacity. Every request still takes its token.
BENCH_RATE_LIMIT_PER_SECOND = 1_000_000
BENCH_RATE_LIMIT_BURST = 1_000_000


def _transformer_admission() -> str:
    """What admits a request to our transformers in this run (the report's auth-and-limits column)."""
    from transformer.settings import TransformerSettings

    default = TransformerSettings.model_fields  # the server's own (max_in_flight) included
    rate, burst = default["rate_limit_per_second"].default, default["rate_limit_burst"].default
    return (
        "API key on (x-api-key, one client, SHA-256 compared); per-client rate limit on at the "
        f"bench's {BENCH_RATE_LIMIT_PER_SECOND:,}/s, burst {BENCH_RATE_LIMIT_BURST:,} (production "
        f"default {rate:g}/s, burst {burst} "
        "per client, would throttle the bench's one client); production defaults for body size "
        f"({default['max_body_bytes'].default:,} B), batch ({default['max_batch'].default}) and requests "
        f"in flight ({default['max_in_flight'].default})"
    )


@dataclass
class Servers:
    """Starts the run's servers through ``procs`` and remembers how each was configured."""

    procs: ProcessGroup
    settings: BenchSettings
    out: Path
    progress: Progress
    running: dict[str, Supervised] = field(default_factory=dict)
    configurations: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """The key our transformers accept (authentication on, as in production)."""

    def start(
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
        admission: str = "none",
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
        self.running[name] = server
        self.configurations[name] = {
            "description": description,
            "command": " ".join(a if a != sys.executable else "python" for a in argv),
            "env": {k: v for k, v in (env or {}).items() if k.startswith(("OMP_", "CREDIT_NTHREAD"))},
            "pid": server.pid,
            "admission": admission,
        }
        return server

    def stop(self, name: str) -> None:
        server = self.running.pop(name, None)
        if server is not None:
            self.procs.stop(server)

    # ------------------------------------------------------------------ ours
    def start_ours(self, env: BenchEnv, postgres_url: str | None) -> None:
        p_http = self._start_predictor(
            "ours-predictor",
            env,
            "python -m predictor (container command): XGBoost threads from the CPU limit "
            "(CREDIT_NTHREAD default), micro-batching, fast v2 route",
        )
        databases = {"sqlite": None, "postgresql": postgres_url} if postgres_url else {"sqlite": None}
        for database, url in databases.items():
            log = {"CREDIT_INFERENCE_LOG_URL": url} if url else {}
            self._start_transformer(
                TRANSFORMERS[database],
                env,
                p_http,
                log,
                "inference log on " + ("PostgreSQL (COPY)" if url else "SQLite under CREDIT_HOME"),
            )

    def start_challengers(self, env: BenchEnv) -> None:
        """A second predictor (the challenger: the same registered version, a separate process) and
        a transformer for each challenger mode in front of ``ours-predictor``, each logging to its
        own SQLite file (one writer per file, as in the no-challenger transformer)."""
        c_http = self._start_predictor(
            CHALLENGER_PREDICTOR,
            env,
            "python -m predictor as the challenger: the champion's command and version, a process of its own",
        )
        champion = self.running["ours-predictor"].port
        host = f"{LOCALHOST}:{c_http}"
        for mode, extra in (
            ("shadow", {"CREDIT_SHADOW_PREDICTOR_HOST": host}),
            ("split", {"CREDIT_CHALLENGER_PERCENT": "50", "CREDIT_CHALLENGER_PREDICTOR_HOST": host}),
        ):
            log = f"sqlite:///{(env.home / f'inference_log_{mode}.db').resolve()}"
            self._start_transformer(
                CHALLENGER_TRANSFORMERS[mode],
                env,
                champion,
                {"CREDIT_CHALLENGER_MODE": mode, "CREDIT_INFERENCE_LOG_URL": log, **extra},
                f"challenger {mode}" + (" 50%" if mode == "split" else "") + ", inference log on SQLite",
            )

    def _start_predictor(self, name: str, env: BenchEnv, description: str) -> int:
        """Our predictor serving the run's model as ``name``; its HTTP port."""
        p_http, p_grpc = free_port(), free_port()
        self.start(
            name,
            predictor_command(p_http, p_grpc, "--bind_address", LOCALHOST, "--model_uri", env.model_uri),
            p_http,
            env={**env.server_env, "CREDIT_HOME": str(env.home)},
            description=description,
            ready_path=model_ready_path(PREDICTOR_MODEL),
        )
        return p_http

    def _start_transformer(
        self, name: str, env: BenchEnv, predictor_port: int, extra: dict[str, str], what: str
    ) -> Supervised:
        keys = write_key_hashes(env.home / "bench-api-key-hashes", self.api_key)
        t_http, t_grpc = free_port(), free_port()
        return self.start(
            name,
            transformer_command(f"{LOCALHOST}:{predictor_port}", t_http, t_grpc, "--bind_address", LOCALHOST),
            t_http,
            env={
                **env.server_env,
                "CREDIT_HOME": str(env.home),
                "CREDIT_FEATURE_REPO": str(env.feature_repo),
                "CREDIT_FEATURE_STORE_CONFIG": str(env.feature_store_config),
                "CREDIT_INFERENCE_LOG": "true",
                "CREDIT_AUTH": "api-key",
                "CREDIT_API_KEYS_PATH": str(keys),
                "CREDIT_RATE_LIMIT_PER_SECOND": str(BENCH_RATE_LIMIT_PER_SECOND),
                "CREDIT_RATE_LIMIT_BURST": str(BENCH_RATE_LIMIT_BURST),
                **extra,
            },
            admission=_transformer_admission(),
            description="python -m transformer --predictor_protocol v2: Feast features from Redis, "
            f"TreeSHAP reasons for refer/decline, {what}",
            ready_path=model_ready_path(TRANSFORMER_MODEL),
        )

    # ------------------------------------------------------------------ stock KServe
    def start_stock(self, env: BenchEnv) -> None:
        flags = [
            "--enable_grpc",
            "false",
            "--enable_latency_logging",
            "false",
            "--configure_logging",
            "false",
        ]
        s_http = free_port()
        self.start(
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
                *flags,
            ],
            s_http,
            env={"OMP_NUM_THREADS": "1"},
            description="stock kserve.Model + ModelServer (bench/peers/kserve_predictor.py): as_numpy + "
            "inplace_predict; 1 worker, OMP_NUM_THREADS=1, per-request latency/access logging off",
            ready_path=f"/v2/models/{MODEL}/ready",
        )
        st_http = free_port()
        self.start(
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
                *flags,
            ],
            st_http,
            env={"OMP_NUM_THREADS": "1"},
            description="stock kserve.Model transformer (bench/peers/kserve_transformer.py): KServe's "
            "own predict() forwards v2 REST to stock-predictor; no features, no reasons, no logging",
            ready_path=f"/v2/models/{MODEL}/ready",
        )

    # ------------------------------------------------------------------ MLServer
    def start_mlserver(self, name: str, env: BenchEnv | None) -> Supervised:
        config = CONFIGS[name]
        mlserver = self.settings.mlserver_venv / "bin" / "mlserver"
        if not mlserver.exists():
            raise BenchError(f"{mlserver} not found: `make bench` creates {self.settings.mlserver_venv}")
        if env is None:
            raise BenchError("the benchmark environment (model file) is not built yet")
        http, grpc, metrics = free_port(), free_port(), free_port()
        folder = layout(self.out / "mlserver", config, MODEL, env.model.booster_file, http, grpc, metrics)
        return self.start(
            f"mlserver-{name}",
            [str(mlserver), "start", str(folder)],
            http,
            env=dict(config.env),
            unset=("OMP_NUM_THREADS",) if "OMP_NUM_THREADS" not in config.env else (),
            description=f"MLServer xgboost runtime: {config.description}",
            ready_path=f"/v2/models/{MODEL}/ready",
            cwd=folder,
        )

"""The local stack: MLflow, Redis, predictor and transformer as local processes.

``credit-scoring stack up`` starts each part with exactly the command its container runs
(``cli.stack.components``), bound to 127.0.0.1 on configurable ports (transformer 8080/8081,
predictor 8085/8086, MLflow 5000, Redis 6379; see docs/architecture.md "Ports"):

- MLflow: the embedded server (``cli.mlflow_local``: SQLite + local artifacts under
  ``CREDIT_HOME``) unless ``MLFLOW_TRACKING_URI`` names one.
- Features: Redis when ``redis-server`` is on PATH (the Feast repo applied and materialized into
  it through a generated profile), else the embedded SQLite online store.
- The predictor serves ``models:/credit-risk@champion``; the transformer is the public entry point.
- With a challenger (``stack up --challenger shadow|split:PERCENT``, ``CREDIT_STACK_CHALLENGER``)
  a second predictor serves ``models:/credit-risk@challenger`` (on 8087/8088) and the
  transformer shadows every batch to it or lets it decide that sticky share of applicants.

Processes run detached (own session, log file each) under the one supervisor
(``cli.stack.supervisor``); what was started is kept in ``$CREDIT_HOME/stack/state.json``
(``CREDIT_STACK_DIR``, see ``cli.stack.state``) so ``status`` and ``down`` work from another
shell, and ``down`` stops exactly the processes ``up`` started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from cli.stack.api_key import ensure_api_key, read_api_key, write_key_hashes
from cli.stack.components import (
    PREDICTOR_MODEL,
    TRANSFORMER_MODEL,
    model_ready_path,
    predictor_command,
    redis_command,
    transformer_command,
)
from cli.stack.settings import StackSettings
from cli.stack.state import StackProcess, StackState, describe, load_state, save_state
from cli.stack.supervisor import LOCALHOST, ProcessError, Supervised, http_ready, port_listening, port_open

__all__ = ["LocalStack", "StackError", "StackSettings", "StackState", "describe"]

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """The stack cannot be started or stopped as asked; the message says what to do."""


def _noop(_: str) -> None:
    return None


class LocalStack:
    """Start, inspect and stop the local stack described by ``StackSettings``."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.dir = (settings.dir or self.home / "stack").resolve()
        self.state_file = self.dir / "state.json"
        # Processes this object started: stopped through their Popen, which also reaps them.
        self._started: dict[int, Supervised] = {}

    def state(self) -> StackState | None:
        return load_state(self.state_file)

    # ------------------------------------------------------------------ up
    def up(self, progress: Progress = _noop) -> StackState:
        """Start everything that is not running yet; return the state (idempotent)."""
        current = self.state()
        if current is not None and current.processes and all(p.alive() for p in current.processes):
            progress(f"already running: {current.transformer_url}")
            return current
        if current is not None:
            self.down(progress)  # half-dead leftovers: stop what remains, start clean
        state = StackState(transformer_url=self.settings.transformer_url)
        try:
            self._up(state, progress)
        except BaseException:
            save_state(self.state_file, state)
            self.down(progress)
            raise
        return state

    def _up(self, state: StackState, progress: Progress) -> None:
        from training.data import load_prepared

        s = self.settings
        data_dir = (s.data_dir or self.home / "data").resolve()
        try:
            load_prepared(data_dir)
        except FileNotFoundError as exc:
            raise StackError(f"{exc} (or `make demo`)") from exc
        ports = {
            "CREDIT_STACK_PREDICTOR_HTTP_PORT": s.predictor_http_port,
            "CREDIT_STACK_PREDICTOR_GRPC_PORT": s.predictor_grpc_port,
            "CREDIT_STACK_TRANSFORMER_HTTP_PORT": s.transformer_http_port,
            "CREDIT_STACK_TRANSFORMER_GRPC_PORT": s.transformer_grpc_port,
        }
        if s.challenger_mode != "off":
            ports["CREDIT_STACK_CHALLENGER_HTTP_PORT"] = s.challenger_http_port
            ports["CREDIT_STACK_CHALLENGER_GRPC_PORT"] = s.challenger_grpc_port
        taken = [f"{port} ({name})" for name, port in ports.items() if port_open(port)]
        if taken:
            raise StackError(f"ports in use: {', '.join(taken)}; stop what uses them or choose other ports")

        tracking_uri = self._mlflow(state, progress)
        state.mlflow_tracking_uri = tracking_uri
        self._check_model(tracking_uri, s.model_uri)
        if s.challenger_mode != "off":
            self._check_model(tracking_uri, s.challenger_model_uri)
        profile = self._features(state, data_dir, progress)
        save_state(self.state_file, state)

        progress(f"predictor on {LOCALHOST}:{s.predictor_http_port} serving {s.model_uri}")
        predictor = self._start(
            state,
            "predictor",
            predictor_command(s.predictor_http_port, s.predictor_grpc_port),
            port=s.predictor_http_port,
            env={"MLFLOW_TRACKING_URI": tracking_uri, "CREDIT_MODEL_URI": s.model_uri},
            ready_path=model_ready_path(PREDICTOR_MODEL),
        )
        key_file, created = ensure_api_key(self.home)
        hashes = write_key_hashes(self.dir / "api-key-hashes", read_api_key(key_file))
        progress(
            f"API key {'created in' if created else 'from'} {key_file} (the transformer has its hash only)"
        )
        started = [predictor]
        transformer_env = {
            "CREDIT_FEATURE_STORE_CONFIG": str(profile),
            "CREDIT_FEATURE_REPO": str(self._repo()),
            "CREDIT_API_KEYS_PATH": str(hashes),
        }
        if s.challenger_mode != "off":
            progress(
                f"challenger predictor on {LOCALHOST}:{s.challenger_http_port} serving "
                f"{s.challenger_model_uri} ({s.challenger})"
            )
            started.append(
                self._start(
                    state,
                    "challenger-predictor",
                    predictor_command(s.challenger_http_port, s.challenger_grpc_port),
                    port=s.challenger_http_port,
                    env={"MLFLOW_TRACKING_URI": tracking_uri, "CREDIT_MODEL_URI": s.challenger_model_uri},
                    ready_path=model_ready_path(PREDICTOR_MODEL),
                )
            )
            transformer_env.update(_challenger_env(s))
        progress(f"transformer on {s.transformer_url}")
        transformer = self._start(
            state,
            "transformer",
            transformer_command(
                f"{LOCALHOST}:{s.predictor_http_port}", s.transformer_http_port, s.transformer_grpc_port
            ),
            port=s.transformer_http_port,
            env=transformer_env,
            ready_path=model_ready_path(TRANSFORMER_MODEL),
        )
        for part in (*started, transformer):
            self._wait(part, http_ready(f"{part.url}{part.ready_path}"))
        save_state(self.state_file, state)

    def _repo(self) -> Path:
        from feature_store import default_repo_path

        return (self.settings.feature_repo or default_repo_path()).resolve()

    def _mlflow(self, state: StackState, progress: Progress) -> str:
        from cli.mlflow_local import LocalMlflow, LocalMlflowError

        if self.settings.mlflow_tracking_uri:
            progress(f"MLflow at {self.settings.mlflow_tracking_uri}")
            return self.settings.mlflow_tracking_uri
        embedded = LocalMlflow(self.home, port=self.settings.mlflow_port)
        if embedded.healthy():
            progress(f"MLflow already answering at {embedded.url} (reused, left running)")
            return embedded.url
        progress(f"MLflow (embedded, {embedded.state_dir}) on {embedded.url}")
        try:
            process = embedded.launch()
        except LocalMlflowError as exc:
            raise StackError(f"{exc} (CREDIT_STACK_MLFLOW_PORT)") from exc
        started = self._record(state, process, ready_path="/health")
        self._wait(started, http_ready(f"{embedded.url}/health"))
        return embedded.url

    def _check_model(self, tracking_uri: str, uri: str) -> None:
        """Fail now, naming the fix, rather than wait for a predictor that can never get ready."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        name, _, alias = uri.removeprefix("models:/").partition("@")
        if not alias:
            return
        try:
            MlflowClient(tracking_uri).get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise StackError(
                    f"{uri} is not in the MLflow registry at {tracking_uri}: run `credit-scoring "
                    "train` (or `make demo`) first"
                ) from exc
            raise StackError(f"MLflow at {tracking_uri} does not answer ({exc.error_code})") from exc

    def _features(self, state: StackState, data_dir: Path, progress: Progress) -> Path:
        """The Feast profile the transformer reads, applied and materialized."""
        from feature_store import EMBEDDED_CONFIG, open_store, redis_profile
        from training.feature_repo import apply, materialize

        s = self.settings
        repo = self._repo()
        redis_server = shutil.which("redis-server")
        if s.redis == "on" and redis_server is None:
            raise StackError(
                "CREDIT_STACK_REDIS=on but redis-server is not on PATH (apt-get install redis-server)"
            )
        if s.redis != "off" and redis_server is not None:
            if port_open(s.redis_port):
                raise StackError(f"port {s.redis_port} (CREDIT_STACK_REDIS_PORT) is in use")
            redis_dir = self.dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            progress(f"Redis on {LOCALHOST}:{s.redis_port}")
            redis = self._start(
                state,
                "redis",
                redis_command(s.redis_port, redis_dir, binary=redis_server),
                port=s.redis_port,
                url=f"redis://{LOCALHOST}:{s.redis_port}",
            )
            self._wait(redis, port_listening(s.redis_port), timeout=30.0)
            # The stack's own registry file: its materialization bookkeeping never mixes with the
            # embedded SQLite store's.
            profile = redis_profile(repo / EMBEDDED_CONFIG, self.dir / "feast", f"{LOCALHOST}:{s.redis_port}")
            state.feature_store = f"Redis at {LOCALHOST}:{s.redis_port}"
        else:
            profile = repo / EMBEDDED_CONFIG
            state.feature_store = f"SQLite under {self.home / 'feast'} (redis-server not on PATH)"
        env = {**os.environ, "CREDIT_HOME": str(self.home)}
        store = open_store(profile, repo, env)
        progress(f"Feast: apply + materialize into {state.feature_store}")
        apply(store, data_dir)  # evaluates the repo's declarations with data_dir
        materialize(store)
        return profile

    # ------------------------------------------------------------------ processes
    def _start(
        self,
        state: StackState,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        url: str = "",
        ready_path: str = "",
    ) -> StackProcess:
        process = Supervised.start(
            name,
            argv,
            self.dir / "logs" / f"{name}.log",
            port=port,
            env={"CREDIT_HOME": str(self.home), "CREDIT_BIND_ADDRESS": LOCALHOST, **(env or {})},
            cwd=Path.cwd(),
        )
        return self._record(state, process, url=url, ready_path=ready_path)

    def _record(
        self, state: StackState, process: Supervised, *, url: str = "", ready_path: str = ""
    ) -> StackProcess:
        self._started[process.pid] = process
        started = StackProcess(process, url or process.url, ready_path)
        state.processes.append(started)
        return started

    def _wait(self, started: StackProcess, check: Callable[[], bool], timeout: float | None = None) -> None:
        try:
            started.process.wait_ready(check, timeout or self.settings.ready_timeout_seconds)
        except ProcessError as exc:
            raise StackError(str(exc)) from exc

    # ------------------------------------------------------------------ down / status
    def down(self, progress: Progress = _noop, timeout: float = 30.0) -> list[str]:
        """Stop what ``up`` started, last started first; return the names stopped."""
        state = self.state()
        if state is None:
            return []
        stopped = []
        for recorded in reversed(state.processes):
            process = self._started.pop(recorded.process.pid, recorded.process)
            if process.alive():
                progress(f"stopping {process.name} (pid {process.pid})")
                process.stop(timeout)
                stopped.append(process.name)
        self.state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> list[tuple[StackProcess, bool, bool]]:
        """(process, alive, ready) for each recorded process."""
        state = self.state()
        if state is None:
            return []
        return [(p, p.alive(), p.ready()) for p in state.processes]

    @contextlib.contextmanager
    def running(self, progress: Progress = _noop) -> Iterator[StackState]:
        """``up`` for the duration of a block, then ``down`` (what ``make demo`` does)."""
        state = self.up(progress)
        try:
            yield state
        finally:
            self.down(progress)


def _challenger_env(s: StackSettings) -> dict[str, str]:
    """The transformer's challenger settings for ``s.challenger`` (what the chart sets too)."""
    host = f"{LOCALHOST}:{s.challenger_http_port}"
    if s.challenger_mode == "shadow":
        return {"CREDIT_CHALLENGER_MODE": "shadow", "CREDIT_SHADOW_PREDICTOR_HOST": host}
    return {
        "CREDIT_CHALLENGER_MODE": "split",
        "CREDIT_CHALLENGER_PERCENT": str(s.challenger_percent),
        "CREDIT_CHALLENGER_PREDICTOR_HOST": host,
    }

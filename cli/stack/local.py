"""The local stack: MLflow, Redis, predictor and transformer as local processes.

``credit-scoring stack up`` starts each part with exactly the command its container runs
(``python -m predictor ...``, ``python -m transformer --predictor_host ... --predictor_protocol
v2 ...``), bound to 127.0.0.1 on configurable ports (transformer 8080/8081, predictor 8085/8086,
MLflow 5000, Redis 6379; see docs/architecture.md "Ports"):

- MLflow: the embedded server (``cli.mlflow_local``: SQLite + local artifacts under
  ``CREDIT_HOME``) unless ``MLFLOW_TRACKING_URI`` names one.
- Features: Redis when ``redis-server`` is on PATH (the Feast repo applied and materialized into
  it through a generated profile), else the embedded SQLite online store.
- The predictor serves ``models:/credit-risk@champion``; the transformer is the public entry point.

Processes run detached (own session, log file each); their ids, commands and URLs are kept in
``$CREDIT_HOME/stack/state.json`` (``CREDIT_STACK_DIR``) so ``status`` and ``down`` work from
another shell. ``down`` stops exactly the processes ``up`` started (checked by command line).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LocalStack", "ProcessState", "StackError", "StackSettings", "StackState", "describe", "free_port"]

LOCALHOST = "127.0.0.1"
Progress = Callable[[str], None]


class StackError(RuntimeError):
    """The stack cannot be started or stopped as asked; the message says what to do."""


class StackSettings(BaseSettings):
    """Where the stack keeps its state and which ports it uses (environment ``CREDIT_STACK_*``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_STACK_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default=Path(".credit-scoring"),
        validation_alias=AliasChoices("CREDIT_HOME", "CREDIT_STACK_HOME"),
        description="Embedded state (data, Feast SQLite store, embedded MLflow, inference log).",
    )
    dir: Path | None = Field(
        default=None, description="Process state: state.json, logs, Redis data (default $CREDIT_HOME/stack)."
    )
    data_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CREDIT_DATA_DIR", "CREDIT_STACK_DATA_DIR"),
        description="Prepared tables (default $CREDIT_HOME/data).",
    )
    feature_repo: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CREDIT_FEATURE_REPO", "CREDIT_STACK_FEATURE_REPO"),
        description="Feast repository (default: this checkout's feature_repo/).",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CREDIT_STACK_MLFLOW_TRACKING_URI"),
        description="An MLflow server to use; unset starts the embedded one.",
    )
    model_uri: str = Field(default="models:/credit-risk@champion", description="What the predictor serves.")
    redis: Literal["auto", "on", "off"] = Field(
        default="auto", description="Redis online store: auto = when redis-server is on PATH."
    )
    mlflow_port: int = Field(
        default=5000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("CREDIT_STACK_MLFLOW_PORT", "CREDIT_MLFLOW_PORT"),
    )
    redis_port: int = Field(default=6379, ge=1, le=65535)
    predictor_http_port: int = Field(default=8085, ge=1, le=65535)
    predictor_grpc_port: int = Field(default=8086, ge=1, le=65535)
    transformer_http_port: int = Field(default=8080, ge=1, le=65535)
    transformer_grpc_port: int = Field(default=8081, ge=1, le=65535)
    ready_timeout_seconds: float = Field(
        default=240.0, gt=0, description="Longest wait for a part to be ready."
    )

    @property
    def transformer_url(self) -> str:
        return f"http://{LOCALHOST}:{self.transformer_http_port}"


@dataclass
class ProcessState:
    """One started process, as recorded in ``state.json``."""

    name: str
    pid: int
    argv: list[str]
    log: str
    url: str = ""
    ready_path: str = ""

    def alive(self) -> bool:
        """The pid runs *our* program (a recycled pid running something else is not ours).

        Compared by executable and ``-m`` module, not the full line: redis-server rewrites its
        process title, and a zombie has an empty command line (not alive).
        """
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        words = [w for part in raw.decode(errors="replace").split("\0") for w in part.split(" ") if w]
        if not words or Path(words[0]).name != Path(self.argv[0]).name:
            return False
        if "-m" in self.argv:
            module = self.argv[self.argv.index("-m") + 1]
            return "-m" in words and words[words.index("-m") + 1] == module
        return True

    def ready(self) -> bool:
        if not self.ready_path:
            return self.alive()
        try:
            return httpx.get(f"{self.url}{self.ready_path}", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class StackState:
    processes: list[ProcessState] = field(default_factory=list)
    transformer_url: str = ""
    feature_store: str = ""
    mlflow_tracking_uri: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        raw = json.loads(text)
        return cls(
            processes=[ProcessState(**p) for p in raw.get("processes", [])],
            transformer_url=raw.get("transformer_url", ""),
            feature_store=raw.get("feature_store", ""),
            mlflow_tracking_uri=raw.get("mlflow_tracking_uri", ""),
        )


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((LOCALHOST, port)) != 0


def _noop(_: str) -> None:
    return None


class LocalStack:
    """Start, inspect and stop the local stack described by ``StackSettings``."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.dir = (settings.dir or self.home / "stack").resolve()
        self.state_file = self.dir / "state.json"
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ state
    def state(self) -> StackState | None:
        try:
            return StackState.from_json(self.state_file.read_text())
        except FileNotFoundError:
            return None

    def _save(self, state: StackState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(self.state_file)

    # ------------------------------------------------------------------ up
    def up(self, progress: Progress = _noop) -> StackState:
        """Start everything that is not running yet; return the state (idempotent)."""
        current = self.state()
        if current is not None and current.processes and all(p.alive() for p in current.processes):
            progress(f"already running: {current.transformer_url}")
            return current
        if current is not None:
            self.down(progress)  # half-dead leftovers: stop what remains, start clean
        self.dir.mkdir(parents=True, exist_ok=True)
        state = StackState(transformer_url=self.settings.transformer_url)
        try:
            self._up(state, progress)
        except BaseException:
            self._save(state)
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
        taken = [f"{port} ({name})" for name, port in ports.items() if not _port_free(port)]
        if taken:
            raise StackError(f"ports in use: {', '.join(taken)}; stop what uses them or choose other ports")

        tracking_uri = self._mlflow(state, progress)
        state.mlflow_tracking_uri = tracking_uri
        self._check_model(tracking_uri)
        profile = self._features(state, data_dir, progress)
        self._save(state)

        progress(f"predictor on {LOCALHOST}:{s.predictor_http_port} serving {s.model_uri}")
        self._start(
            state,
            "predictor",
            [
                sys.executable,
                "-m",
                "predictor",
                "--model_name",
                "credit-risk",
                "--http_port",
                str(s.predictor_http_port),
                "--grpc_port",
                str(s.predictor_grpc_port),
            ],
            env={"MLFLOW_TRACKING_URI": tracking_uri, "CREDIT_MODEL_URI": s.model_uri},
            url=f"http://{LOCALHOST}:{s.predictor_http_port}",
            ready_path="/v2/models/credit-risk/ready",
        )
        progress(f"transformer on {s.transformer_url}")
        self._start(
            state,
            "transformer",
            [
                sys.executable,
                "-m",
                "transformer",
                "--predictor_host",
                f"{LOCALHOST}:{s.predictor_http_port}",
                "--predictor_protocol",
                "v2",
                "--http_port",
                str(s.transformer_http_port),
                "--grpc_port",
                str(s.transformer_grpc_port),
            ],
            env={"CREDIT_FEATURE_STORE_CONFIG": str(profile), "CREDIT_FEATURE_REPO": str(self._repo())},
            url=s.transformer_url,
            ready_path="/v2/models/credit-scoring/ready",
        )
        for name in ("predictor", "transformer"):
            self._wait_ready(next(p for p in state.processes if p.name == name))
        self._save(state)

    def _repo(self) -> Path:
        from feature_store import default_repo_path

        return (self.settings.feature_repo or default_repo_path()).resolve()

    def _mlflow(self, state: StackState, progress: Progress) -> str:
        from cli.mlflow_local import SERVER_ENV, LocalMlflow

        if self.settings.mlflow_tracking_uri:
            progress(f"MLflow at {self.settings.mlflow_tracking_uri}")
            return self.settings.mlflow_tracking_uri
        embedded = LocalMlflow(self.home, port=self.settings.mlflow_port)
        if embedded.healthy():
            progress(f"MLflow already answering at {embedded.url} (reused, left running)")
            return embedded.url
        if not _port_free(self.settings.mlflow_port):
            raise StackError(
                f"port {self.settings.mlflow_port} is in use by something that is not MLflow: "
                "free it or set CREDIT_STACK_MLFLOW_PORT / MLFLOW_TRACKING_URI"
            )
        (embedded.state_dir / "artifacts").mkdir(parents=True, exist_ok=True)
        progress(f"MLflow (embedded, {embedded.state_dir}) on {embedded.url}")
        # MLflow 3's server would also start GenAI job runners this platform does not use.
        self._start(
            state,
            "mlflow",
            embedded.command(),
            env=dict(SERVER_ENV),
            url=embedded.url,
            ready_path="/health",
            drop=("MLFLOW_TRACKING_URI",),
        )
        self._wait_ready(state.processes[-1])
        return embedded.url

    def _check_model(self, tracking_uri: str) -> None:
        """Fail now, naming the fix, rather than wait for a predictor that can never get ready."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        uri = self.settings.model_uri
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
        from feature_store import EMBEDDED_CONFIG, open_store
        from training.feature_repo import apply, materialize

        s = self.settings
        repo = self._repo()
        use_redis = s.redis == "on" or (s.redis == "auto" and shutil.which("redis-server") is not None)
        if s.redis == "on" and shutil.which("redis-server") is None:
            raise StackError(
                "CREDIT_STACK_REDIS=on but redis-server is not on PATH (apt-get install redis-server)"
            )
        if use_redis:
            if not _port_free(s.redis_port):
                raise StackError(f"port {s.redis_port} (CREDIT_STACK_REDIS_PORT) is in use")
            redis_dir = self.dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            progress(f"Redis on {LOCALHOST}:{s.redis_port}")
            self._start(
                state,
                "redis",
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(s.redis_port),
                    "--bind",
                    LOCALHOST,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(redis_dir),
                    "--protected-mode",
                    "yes",
                ],
                url=f"redis://{LOCALHOST}:{s.redis_port}",
            )
            self._wait_redis(state.processes[-1])
            profile = self._redis_profile(repo / EMBEDDED_CONFIG)
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

    def _redis_profile(self, embedded: Path) -> Path:
        """The embedded profile with a Redis online store and its own registry file, so the stack's
        materialization bookkeeping never mixes with the embedded SQLite store's."""
        import yaml

        raw = yaml.safe_load(embedded.read_text())
        raw["registry"] = {**raw.get("registry", {}), "path": str(self.dir / "feast" / "registry.db")}
        raw["online_store"] = {
            "type": "redis",
            "connection_string": f"{LOCALHOST}:{self.settings.redis_port}",
        }
        (self.dir / "feast").mkdir(parents=True, exist_ok=True)
        out = self.dir / "feature_store.yaml"
        out.write_text(
            "# Generated by `credit-scoring stack up`: the embedded profile with Redis.\n"
            + yaml.safe_dump(raw, sort_keys=False)
        )
        return out

    # ------------------------------------------------------------------ processes
    def _start(
        self,
        state: StackState,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        url: str = "",
        ready_path: str = "",
        drop: tuple[str, ...] = (),
    ) -> ProcessState:
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        # Importing feast.metrics (apply/materialize above) exports PROMETHEUS_MULTIPROC_DIR into this
        # process; inherited, it would switch the servers' metrics to files /metrics never reads.
        drop = (*drop, "PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
        full = {k: v for k, v in os.environ.items() if k not in drop}
        full.update({"CREDIT_HOME": str(self.home), "CREDIT_BIND_ADDRESS": LOCALHOST, **(env or {})})
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=full, start_new_session=True, cwd=os.getcwd()
            )
        self._children[popen.pid] = popen
        process = ProcessState(name, popen.pid, argv, str(log), url, ready_path)
        state.processes.append(process)
        return process

    def _wait_ready(self, process: ProcessState) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_seconds
        while time.monotonic() < deadline:
            if not self._running(process):
                raise StackError(f"{process.name} exited at start; see {process.log}:\n{_tail(process.log)}")
            if process.ready():
                return
            time.sleep(0.25)
        raise StackError(
            f"{process.name} not ready after {self.settings.ready_timeout_seconds:.0f}s; "
            f"see {process.log}:\n{_tail(process.log)}"
        )

    def _wait_redis(self, process: ProcessState) -> None:
        import redis

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(host=LOCALHOST, port=self.settings.redis_port, socket_timeout=1).ping():
                    return
            if not self._running(process):
                raise StackError(f"redis exited at start; see {process.log}:\n{_tail(process.log)}")
            time.sleep(0.1)
        raise StackError(f"redis not answering; see {process.log}")

    # ------------------------------------------------------------------ down / status
    def down(self, progress: Progress = _noop, timeout: float = 30.0) -> list[str]:
        """Stop what ``up`` started, last started first; return the names stopped."""
        state = self.state()
        if state is None:
            return []
        stopped = []
        for process in reversed(state.processes):
            if self._running(process):
                progress(f"stopping {process.name} (pid {process.pid})")
                self._stop(process, timeout)
                stopped.append(process.name)
        self.state_file.unlink(missing_ok=True)
        return stopped

    def _stop(self, process: ProcessState, timeout: float) -> None:
        # SIGTERM to the process group: servers drain (the transformer flushes its inference log).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._running(process):
            time.sleep(0.1)
        if self._running(process):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        child = self._children.pop(process.pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)

    def _running(self, process: ProcessState) -> bool:
        child = self._children.get(process.pid)
        if child is not None:
            # Started by this process: ask the Popen (it reaps a zombie, and right after fork the
            # child's /proc command line is still ours, so alive() would say "not ours").
            return child.poll() is None
        return process.alive()

    def status(self) -> list[tuple[ProcessState, bool, bool]]:
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


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def describe(state: StackState) -> dict[str, Any]:
    """A JSON-able summary for ``stack status --json``."""
    return {
        "transformer_url": state.transformer_url,
        "feature_store": state.feature_store,
        "mlflow_tracking_uri": state.mlflow_tracking_uri,
        "processes": [{**asdict(p), "alive": p.alive(), "ready": p.ready()} for p in state.processes],
    }

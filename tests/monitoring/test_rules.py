"""The shipped Prometheus rule files: valid, unit-tested with promtool, every alert covered both
ways (fires when it should, stays quiet when it should not), metric names from the contract."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.servers import require_binary

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "charts" / "credit-scoring" / "files" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yaml"))
TEST_FILES = sorted((Path(__file__).parent / "rules").glob("*.test.yaml"))
# Series names in PromQL that are Prometheus' own or PromQL functions, not our contract.
_PROMQL_WORDS = {"credit"}


def contract_metrics() -> set[str]:
    """Metric names declared in docs/architecture.md (the contract rules and dashboards use)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return set(re.findall(r"`?\b((?:credit|request)_[a-z0-9_]+)", text))


def metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(credit_[a-z0-9_]+)\b", expr))
    # Histogram series carry suffixes; the contract names the histogram.
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names} - _PROMQL_WORDS


def alerts() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def test_rule_files_exist():
    assert {p.name for p in RULE_FILES} >= {"drift.yaml", "serving.yaml"}
    assert TEST_FILES


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path):
    result = subprocess.run(
        [require_binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests(path: Path):
    result = subprocess.run(
        [require_binary("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet():
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    declared = set(alerts())
    assert declared - fires == set(), "alerts never shown to fire"
    assert declared - quiet == set(), "alerts never shown to stay quiet"
    assert (fires | quiet) - declared == set(), "tests name alerts that do not exist"


def test_issue_alerts_are_present():
    names = set(alerts())
    for required in (
        "CreditFeaturePSIWarning",
        "CreditFeaturePSICritical",
        "CreditDriftShareHigh",
        "CreditDriftJobStale",
        "CreditTransformerLatencyP99High",
        "CreditTransformer5xxRateHigh",
        "CreditPredictorNotReady",
        "CreditServedVersionMismatch",
    ):
        assert required in names


@pytest.mark.parametrize("name", sorted(alerts()))
def test_alert_is_well_formed(name: str):
    rule = alerts()[name]
    assert rule["labels"]["severity"] in {"info", "warning", "critical"}
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    used = metric_names(str(rule["expr"]))
    assert used, f"{name} uses no credit_* metric"
    assert used <= contract_metrics(), (
        f"{name} uses metrics not in docs/architecture.md: {used - contract_metrics()}"
    )

"""What the chart refuses to render because KServe, Knative or Kubernetes would not do what the
values say, and what it renders instead of claiming it (the challenger split, the model location)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.rendering import (
    CHART,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    helm,
    render,
    render_scenario,
    scenario_flags,
)


def _of_kind(docs: Any, kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("mode", ["shadow", "split"])
def test_kserve_canary_values_are_gone(mode):
    """The router replaced KServe's pod-count canary (issue #13): its values are refused, not ignored."""
    with pytest.raises(AssertionError, match=r"rollout"):
        render("--set", f"challenger.mode={mode}", "--set", "rollout.enabled=true")


def test_kserve_older_than_the_declared_minimum_is_refused():
    minimum = yaml.safe_load((CHART / "Chart.yaml").read_text())["annotations"][
        "credit-scoring/kserve-min-version"
    ]
    assert minimum == "0.20.0"
    with pytest.raises(AssertionError, match=r"serving.kserveVersion 0.19.2: this chart needs KServe 0.20.0"):
        render("--set", "serving.kserveVersion=0.19.2")
    render("--set", "serving.kserveVersion=0.20.0")


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (
            ("--set", "podDisruptionBudget.minAvailable=2"),
            r"minAvailable 2 is not below transformer.minReplicas 2",
        ),
        (("--set", "predictor.minReplicas=8"), r"predictor.minReplicas 8 is above predictor.maxReplicas 6"),
    ],
)
def test_values_kserve_or_kubernetes_would_reject_fail_at_render(flags, complaint):
    with pytest.raises(AssertionError, match=complaint):
        render(*flags)


def test_every_server_pins_one_worker_so_kserve_appends_none():
    for scenario in SCENARIOS:
        for isvc in _of_kind(render_scenario(scenario), "InferenceService"):
            for component in ("transformer", "predictor"):
                if component in isvc["spec"]:
                    args = isvc["spec"][component]["containers"][0]["args"]
                    assert args[args.index("--workers") + 1] == "1", (scenario, component)


def test_no_predictor_gives_kserve_a_model_location():
    """Predictors load from the MLflow registry; without storageUri or STORAGE_URI KServe injects no
    storage initializer (nothing downloads artifacts into the pod, no extra credentials)."""
    for scenario in SCENARIOS:
        for isvc in _of_kind(render_scenario(scenario), "InferenceService"):
            predictor = isvc["spec"]["predictor"]
            assert "storageUri" not in predictor, scenario
            assert "model" not in predictor, scenario
            assert "STORAGE_URI" not in _env(predictor["containers"][0]), scenario
            assert "initContainers" not in predictor, scenario
            assert "canary" not in isvc["spec"], scenario
            assert "canaryTrafficPercent" not in predictor, scenario


@pytest.mark.parametrize("scenario", ["split", "knative-split"])
def test_split_notes_state_the_per_applicant_share(scenario):
    out = helm(
        "install",
        RELEASE,
        str(CHART),
        "--dry-run=client",
        "--namespace",
        NAMESPACE,
        *scenario_flags(scenario),
    )
    notes = " ".join(out.split("NOTES:", 1)[1].split())
    assert "the transformer's router sends 10% of applicants, sticky per applicant" in notes
    assert f"to {RELEASE}-challenger-predictor" in notes
    assert "holds at any replica count" in notes

"""What the chart refuses to render because KServe, Knative or Kubernetes would not do what the
values say, and what it renders instead of claiming it (the canary split, the model location)."""

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


def test_knative_rollout_on_a_first_install_is_refused():
    """Knative would send 100% to the challenger: there is no earlier revision to keep."""
    values = str(CHART / "ci" / "knative-canary-values.yaml")
    with pytest.raises(AssertionError, match="needs the champion revision rolled out first"):
        render(values=(values,))


@pytest.mark.parametrize("mode", ["shadow", "split"])
def test_challenger_and_rollout_together_are_refused_by_the_schema(mode):
    """Both would create <release>-challenger-predictor, and the transformer runs one challenger mode."""
    with pytest.raises(AssertionError, match=r"rollout/enabled"):
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
        (
            (
                "--set",
                "rollout.enabled=true",
                "--set",
                "predictor.storageUri=s3://b/m",
                "--set",
                "rollout.replicas=3",
            ),
            r"rollout.replicas 3 exceeds predictor.minReplicas 2",
        ),
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


def test_model_location_for_kserve_downloads_nothing():
    """STORAGE_URI is set only for KServe's canary validation; the stand-in init container keeps
    KServe's storage initializer from being injected (it skips pods that already have one)."""
    for scenario in SCENARIOS:
        for isvc in _of_kind(render_scenario(scenario), "InferenceService"):
            predictor = isvc["spec"]["predictor"]
            has_uri = "STORAGE_URI" in _env(predictor["containers"][0])
            init = {c["name"]: c for c in predictor.get("initContainers", [])}
            assert has_uri == ("storage-initializer" in init), scenario
            if has_uri:
                assert init["storage-initializer"]["command"] == ["python", "-c", "pass"]


def test_canary_notes_state_the_split_the_pods_give():
    out = helm(
        "install",
        RELEASE,
        str(CHART),
        "--dry-run=client",
        "--namespace",
        NAMESPACE,
        *scenario_flags("canary"),
    )
    notes = " ".join(out.split("NOTES:", 1)[1].split())
    # ceil(4 x 20%) = 1 canary pod; stable 3 (4 - 1) to 6 (maxReplicas): 1/7 to 1/4 of the pods.
    assert "1 canary predictor pod(s)" in notes
    assert "next to 3-6 stable pods" in notes
    assert "about 14-25% of predictor traffic" in notes
    assert "not spec.canary's 20%" in notes

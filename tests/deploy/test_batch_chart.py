"""Portfolio batch scoring in the chart: off by default; the ci/batch-values.yaml scenario renders
a Job, a CronJob and a SparkApplication that run the same image with the same settings, locked
down like every pod, the SparkApplication valid under the vendored Spark Operator CRD
(scripts/vendor_crds.py, pinned SPARK_OPERATOR_VERSION).

The commands these objects run are executed on a real portfolio by
tests/batch/test_chart_commands.py (the Job's command, and the SparkApplication's with
spark-submit --master local[2]).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from tests.deploy.crd_schema import registry
from tests.deploy.rendering import CHART, RELEASE, ROOT, helm, render, render_scenario

BATCH_KINDS = {"Job", "CronJob", "SparkApplication"}


def validate_spark_application(app: dict[str, Any]) -> list[str]:
    """The API server's checks against the vendored Spark Operator CRD (tests/deploy/crds/)."""
    return registry().errors(app)


def _batch_objects(docs: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for d in docs:
        spec = d.get("spec", {})
        pod = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
        if (
            d["kind"] == "SparkApplication"
            or pod.get("metadata", {}).get("labels", {}).get("credit-scoring/job") == "batch-score"
        ):
            found[d["kind"]] = d
    return found


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_batch_objects_are_off_by_default():
    assert _batch_objects(render()) == {}
    for scenario in ("kind", "prod-like", "split", "shadow", "knative"):
        assert _batch_objects(render_scenario(scenario)) == {}, scenario


def test_batch_scenario_renders_the_three_objects_with_the_same_image_and_settings():
    objects = _batch_objects(render_scenario("batch"))
    assert set(objects) == BATCH_KINDS
    job = objects["Job"]["spec"]["template"]["spec"]
    cron = objects["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    spark = objects["SparkApplication"]["spec"]
    (job_c,) = job["containers"]
    (cron_c,) = cron["containers"]
    assert job_c["image"] == cron_c["image"] == spark["image"] == "credit-scoring-batch:dev"
    settings = {k: v for k, v in _env(job_c).items() if k.startswith("CREDIT_BATCH_")}
    assert settings["CREDIT_BATCH_INPUT"] == "/data/portfolio.parquet"
    assert settings["CREDIT_BATCH_PORTFOLIO"] == "cards"
    assert _env(job_c) == _env(cron_c) == _env(spark["driver"]) == _env(spark["executor"])
    assert job_c["args"] == cron_c["args"]
    assert "credit-scoring batch-score --engine local" in job_c["args"][0]
    # Input and output live on the claim, mounted in every pod of the three.
    for pod_volumes in (job["volumes"], cron["volumes"], spark["volumes"]):
        (data,) = [v for v in pod_volumes if v["name"] == "data"]
        assert data["persistentVolumeClaim"]["claimName"] == "portfolio-data"
    for mounts in (job_c["volumeMounts"], spark["driver"]["volumeMounts"], spark["executor"]["volumeMounts"]):
        assert {"name": "data", "mountPath": "/data"} in mounts


def test_job_and_spark_application_names_carry_the_release_revision():
    docs = render(
        "--set",
        "batch.dataClaimName=x",
        "--set",
        "batch.job.enabled=true",
        "--set",
        "batch.sparkApplication.enabled=true",
    )
    names = {d["kind"]: d["metadata"]["name"] for d in docs if d["kind"] in ("Job", "SparkApplication")}
    assert names["SparkApplication"] == f"{RELEASE}-batch-portfolio-spark-r1"
    assert f"{RELEASE}-batch-portfolio-r1" in {d["metadata"]["name"] for d in docs if d["kind"] == "Job"}


def test_cronjob_never_overlaps_and_pushes_a_max_age_that_fits_its_schedule():
    cron = _batch_objects(render_scenario("batch"))["CronJob"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["schedule"] == "0 2 * * *"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert _env(container)["CREDIT_BATCH_MAX_AGE_HOURS"] == "26"  # daily schedule, two hours of slack


def test_batch_objects_need_the_data_claim():
    with pytest.raises(AssertionError, match=r"batch\.dataClaimName"):
        helm("template", RELEASE, str(CHART), "--set", "batch.job.enabled=true")


@pytest.mark.parametrize(
    ("flag", "complaint"),
    [
        ("batch.engine=yarn", "engine"),
        ("batch.modelUri=s3://bucket/model", "modelUri"),
        ("batch.asOf=yesterday", "asOf"),
        ("batch.input=relative.parquet", "input"),
        ("batch.sparkApplication.executor.memory=lots", "memory"),
        ("batch.portfolio=Cards_2024", "portfolio"),
    ],
)
def test_schema_rejects_bad_batch_values(flag, complaint):
    with pytest.raises(AssertionError, match=complaint):
        helm("template", RELEASE, str(CHART), "--set", "batch.dataClaimName=x", "--set", flag)


def test_spark_application_is_valid_under_the_spark_operator_crd():
    app = _batch_objects(render_scenario("batch"))["SparkApplication"]
    assert validate_spark_application(app) == []
    spec = app["spec"]
    assert spec["type"] == "Python"
    assert spec["mode"] == "cluster"
    assert spec["mainApplicationFile"] == "local:///opt/venv/lib/python3.11/site-packages/batch/__main__.py"
    assert spec["arguments"] == ["--engine", "spark"]
    assert spec["driver"]["serviceAccount"] == "spark-operator-spark"
    assert spec["executor"]["instances"] == 2
    for role in ("driver", "executor"):
        pod = spec[role]
        assert pod["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["podSecurityContext"]["runAsNonRoot"] is True
        (init,) = pod["initContainers"]
        assert init["command"] == ["credit-scoring", "data", "prepare"]


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda s: s["driver"].update(cors=1), r"spec\.driver\.cors: unknown field"),
        (lambda s: s.update(mode="yarn"), r"spec\.mode: 'yarn' is not one of"),
        (lambda s: s["executor"].update(instances="2"), r"spec\.executor\.instances: expected integer"),
        (lambda s: s.pop("sparkVersion"), r"spec\.sparkVersion: required field is missing"),
        (lambda s: s["restartPolicy"].update(type="Sometimes"), r"restartPolicy\.type: 'Sometimes'"),
    ],
)
def test_crd_validation_catches_mistakes(mutate, complaint):
    app = copy.deepcopy(_batch_objects(render_scenario("batch"))["SparkApplication"])
    mutate(app["spec"])
    errors = validate_spark_application(app)
    assert any(re.search(complaint, e) for e in errors), errors


def test_spark_version_matches_the_pinned_pyspark():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements/constraints.txt").read_text().splitlines()
        if "==" in line
    )
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["batch"]["sparkApplication"]["sparkVersion"] == pins["pyspark"]


def test_spark_pods_reach_each_other_the_api_server_and_the_stores_only():
    (policy,) = [
        d
        for d in render_scenario("batch")
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("batch-spark")
    ]
    egress_ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", []))
    assert egress_ports == [443, 5000, 5432, 6443, 9000, 9091]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "batch-spark"

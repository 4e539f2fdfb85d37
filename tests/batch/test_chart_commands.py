"""The same 10,000 applications, online and in batch, give the same answers.

The batch runs are the chart's own (ci/batch-values.yaml): the plain Job's container command
(local engine) and the SparkApplication's driver (``spark-submit --master local[2]`` on its
``mainApplicationFile`` and ``arguments``), each with its rendered ``CREDIT_BATCH_*`` settings.
Translations, and nothing else: the data volume (/data) and the pod's writable paths become
temporary folders; the store addresses become the session's servers (``credit_env``); the
image's interpreter becomes this venv's; ``CREDIT_BATCH_AS_OF`` is set to the online store's
materialization time (the point in time whose profiles the online store holds); and ``kserve``
is made unimportable in every process (the batch job must not need it).

Compared per application with the online answers of the real transformer + predictor pair:
decision, risk band, thin file, reasons (code, text, feature, contribution), model version and
role identical; PD and score within 1e-9. Rejected rows carry the field-level messages the
transformer answers with.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from batch.job import read_summary
from tests.batch.conftest import ROOT, Portfolio, batch_env
from tests.credit_env import CreditEnv
from tests.deploy.rendering import render_scenario
from tests.transformer.conftest import Server

pytestmark = pytest.mark.slow

DATA = "/data"


def _rendered(kind: str) -> dict[str, Any]:
    (doc,) = [
        d
        for d in render_scenario("batch")
        if d["kind"] == kind and (kind == "SparkApplication" or "batch-score" in json.dumps(d["spec"]))
    ]
    return doc


def _settings(env: list[dict[str, Any]], data: Path) -> dict[str, str]:
    """The container's own settings (plain values), /data pointed at ``data``."""
    return {
        e["name"]: str(e["value"]).replace(DATA, str(data))
        for e in env
        if "value" in e and e["name"].startswith("CREDIT_BATCH_")
    }


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = read_summary(result.stdout)
    return summary


@pytest.fixture(scope="module")
def online_answers(online: Server, portfolio: Portfolio) -> pd.DataFrame:
    valid = portfolio.valid
    answers = []
    with httpx.Client(timeout=120, headers=online.auth) as client:
        for start in range(0, len(valid), 1000):
            block = valid.iloc[start : start + 1000]
            instances = [
                {
                    "applicant_id": r.applicant_id,
                    "amount": float(r.amount),
                    "price": float(r.price),
                    "term": int(r.term),
                }
                for r in block.itertuples()
            ]
            response = client.post(
                f"{online.url}/v1/models/credit-scoring:predict", json={"instances": instances}
            )
            assert response.status_code == 200, response.text
            answers += response.json()["predictions"]
    frame = pd.DataFrame(answers)
    frame["application_id"] = valid["application_id"].to_numpy()
    return frame.set_index("application_id")


@pytest.fixture(scope="module")
def job_run(
    credit_env: CreditEnv, portfolio: Portfolio, materialized_at: datetime, without_kserve, tmp_path_factory
):
    """The rendered Job's container command, as the pod runs it (local engine)."""
    job = _rendered("Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    work = tmp_path_factory.mktemp("batch-job")
    data = work / "data"
    data.mkdir()
    (data / "portfolio.parquet").write_bytes(portfolio.path.read_bytes())
    env = batch_env(
        credit_env,
        work / "home",
        **_settings(container["env"], data),
        **without_kserve,
        CREDIT_BATCH_AS_OF=materialized_at.isoformat(),
        CREDIT_DATA_DIR=str(work / "prepared"),
    )
    assert container["command"] == ["/bin/sh", "-ec"]
    summary = _run([*container["command"], *container["args"]], env, work)
    return summary, data


@pytest.fixture(scope="module")
def spark_run(
    credit_env: CreditEnv, portfolio: Portfolio, materialized_at: datetime, without_kserve, tmp_path_factory
):
    """The rendered SparkApplication's driver, as spark-submit on local[2]."""
    spec = _rendered("SparkApplication")["spec"]
    work = tmp_path_factory.mktemp("batch-spark")
    data = work / "data"
    data.mkdir()
    (data / "portfolio.parquet").write_bytes(portfolio.path.read_bytes())
    env = batch_env(
        credit_env,
        work / "home",
        **_settings(spec["driver"]["env"], data),
        **without_kserve,
        CREDIT_BATCH_AS_OF=materialized_at.isoformat(),
        CREDIT_DATA_DIR=str(work / "prepared"),
        PYSPARK_PYTHON=sys.executable,
    )
    (init,) = spec["driver"]["initContainers"]
    _prepare = subprocess.run(init["command"], env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert _prepare.returncode == 0, _prepare.stderr[-2000:]
    main = spec["mainApplicationFile"].removeprefix("local://")
    assert main == "/opt/venv/lib/python3.11/site-packages/batch/__main__.py"
    local_main = ROOT / "batch" / "__main__.py"  # the same file, installed in the image
    argv = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[2]",
        *(f"--conf={k}={str(v).replace('/tmp', str(work / 'tmp'))}" for k, v in spec["sparkConf"].items()),
        str(local_main),
        *spec["arguments"],
    ]
    summary = _run(argv, env, work)
    return summary, data


def _batch_answers(path: Path) -> pd.DataFrame:
    return ds.dataset(path, format="parquet").to_table().to_pandas().set_index("application_id")


def _reasons(value: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in (value if value is not None else [])]


def _assert_same_answers(batch: pd.DataFrame, online: pd.DataFrame, credit_env: CreditEnv) -> None:
    assert sorted(batch.index) == sorted(online.index)
    batch = batch.loc[online.index]
    mismatches = []
    for app_id in online.index:
        b, o = batch.loc[app_id], online.loc[app_id]
        same = (
            b["applicant_id"] == o["applicant_id"]
            and b["decision"] == o["decision"]
            and b["risk_band"] == o["risk_band"]
            and bool(b["thin_file"]) == bool(o["thin_file"])
            and _reasons(b["reasons"]) == o["reasons"]
            and math.isclose(b["pd"], o["pd"], rel_tol=0, abs_tol=1e-9)
            and math.isclose(b["score"], o["score"], rel_tol=0, abs_tol=1e-9)
            and b["model_version"] == o["model"]["version"] == credit_env.model_version
            and b["model"]["role"] == o["model"]["role"] == "champion"
        )
        if not same:
            mismatches.append((app_id, b.to_dict(), o.to_dict()))
    assert not mismatches, f"{len(mismatches)} answers differ, e.g. {mismatches[:2]}"
    # Not a vacuous comparison: every decision, thin files and pooled reasons are in the sample.
    assert set(online["decision"]) == {"approve", "refer", "decline"}
    assert online["thin_file"].sum() > 100
    assert any(r["code"] == "R00" for rs in online["reasons"] for r in rs)
    assert online["reasons"].map(len).gt(0).sum() > 1000


def test_job_command_answers_as_online(job_run, online_answers, credit_env):
    summary, data = job_run
    assert summary["engine"] == "local"
    assert summary["scored"] == len(online_answers)
    _assert_same_answers(_batch_answers(data / "scores.parquet"), online_answers, credit_env)


def test_spark_application_answers_as_online(spark_run, online_answers, credit_env):
    summary, data = spark_run
    assert summary["engine"] == "spark"
    assert summary["scored"] == len(online_answers)
    assert (data / "scores.parquet").is_dir()  # Spark's part files
    _assert_same_answers(_batch_answers(data / "scores.parquet"), online_answers, credit_env)


def _online_problems(online: Server, row: dict[str, Any]) -> list[tuple[str, str]]:
    instance = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    if instance["term"] is not None:
        instance["term"] = int(instance["term"])
    response = httpx.post(
        f"{online.url}/v1/models/credit-scoring:predict",
        json={"instances": [instance]},
        timeout=30,
        headers=online.auth,
    )
    assert response.status_code == 400, response.text
    return [(p["field"], p["message"]) for p in response.json()["problems"]]


@pytest.mark.parametrize("run", ["job_run", "spark_run"])
def test_rejects_carry_the_online_messages(run, request, online, portfolio: Portfolio):
    summary, data = request.getfixturevalue(run)
    rejects = pq.read_table(data / "scores.rejects.parquet").to_pylist()
    assert summary["rejected"] == len(rejects) == len(portfolio.invalid_rows)
    by_row = {r["row"]: r for r in rejects}
    assert sorted(by_row) == portfolio.invalid_rows
    for row in portfolio.invalid_rows:
        raw = portfolio.frame.loc[row, ["applicant_id", "amount", "price", "term"]].to_dict()
        raw = {
            k: (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v) for k, v in raw.items()
        }
        got = [(p["field"], p["message"]) for p in by_row[row]["problems"]]
        assert got == _online_problems(online, raw), raw
        assert by_row[row]["application_id"] == portfolio.frame.loc[row, "application_id"]


def test_kserve_really_is_unimportable_in_the_batch_runs(without_kserve, credit_env, tmp_path):
    env = batch_env(credit_env, tmp_path, **without_kserve)
    result = subprocess.run(
        [sys.executable, "-c", "import kserve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "kserve is not part of the batch job" in result.stderr

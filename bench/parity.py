"""Parity before timing: every server answers what the booster file answers for the same rows.

Stage 3 of the run (``bench.harness``): our predictor and the stock ``kserve.Model`` give the
booster's PD, our transformers give well-formed answers; and which MLServer output
(``predict_proba`` or ``predict``) carries that PD for the model file. Nothing is timed here.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from bench import BenchError, payloads
from bench.environment import BenchEnv
from bench.servers import MODEL, TRANSFORMERS
from cli.stack.supervisor import Supervised

__all__ = ["check_parity", "mlserver_outputs"]

_JSON = {"content-type": "application/json"}


def check_parity(env: BenchEnv, running: dict[str, Supervised], api_key: str) -> dict[str, Any]:
    """Same rows, same PD from every predictor; our transformers' answers well-formed."""
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(env.model.booster_file))
    booster.set_param({"nthread": 1})
    rows = env.workload.rows[:16]
    expected = booster.inplace_predict(rows)
    out: dict[str, Any] = {"rows": len(rows)}
    with httpx.Client(timeout=30, headers=_JSON) as client:

        def pds(server: Supervised) -> list[float]:
            got = []
            for r in rows:
                resp = client.post(
                    f"{server.url}/v2/models/{MODEL}/infer",
                    content=payloads.predictor_body(r[None, :], ()),
                )
                resp.raise_for_status()
                output = next(o for o in resp.json()["outputs"] if o["name"] == "probability")
                got.append(float(output["data"][-1]))
            return got

        for name in ("ours-predictor", "stock-predictor"):
            if name not in running:
                continue
            diff = float(np.max(np.abs(np.array(pds(running[name])) - expected)))
            out[name] = {"max_abs_pd_difference": diff}
            if diff > 1e-5:
                raise BenchError(f"{name} disagrees with the booster file (max |dPD| = {diff:.2e})")
        apps = env.workload.applications[:16]
        for transformer in (n for n in TRANSFORMERS.values() if n in running):
            resp = client.post(
                f"{running[transformer].url}/v1/models/credit-scoring:predict",
                content=payloads.transformer_v1_body(apps),
                headers={"x-api-key": api_key},
            )
            resp.raise_for_status()
            problem = payloads.check_batch_answers(len(apps))(resp.content)
            if problem is not None:
                raise BenchError(f"{transformer}'s answers are not well-formed: {problem}")
            answers = resp.json()["predictions"]
            same = np.abs(np.array([a["pd"] for a in answers]) - expected) < 1e-5
            # Equal when the online store holds the profile the workload rows were built from.
            out[transformer] = {
                "pd_equals_workload_rows": f"{int(same.sum())}/{len(same)}",
                "decisions": {
                    d: sum(a["decision"] == d for a in answers) for d in ("approve", "refer", "decline")
                },
            }
    return out


def mlserver_outputs(env: BenchEnv, server: Supervised) -> tuple[list[str], float]:
    """``predict_proba`` when the runtime offers it for this file, else ``predict`` (which is
    then the probability: the parity check below proves it)."""
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(env.model.booster_file))
    rows = env.workload.rows[:4]
    expected = booster.inplace_predict(rows)
    for outputs in (["predict_proba"], ["predict"]):
        resp = httpx.post(
            f"{server.url}/v2/models/{MODEL}/infer",
            content=payloads.predictor_body(rows, outputs),
            headers=_JSON,
            timeout=30,
        )
        if resp.status_code != 200:
            continue
        data = np.array(resp.json()["outputs"][0]["data"], dtype=np.float64)
        pd = data[1::2] if data.size == 2 * len(rows) else data
        if pd.size == len(rows) and (diff := float(np.max(np.abs(pd - expected)))) < 1e-5:
            return outputs, diff
    raise BenchError(
        f"MLServer ({server.name}) gives neither predict_proba nor predict equal to the booster's PD"
    )

"""No training/serving skew, and reasons that agree with the model.

The PD the transformer serves for an applicant equals the PD the registered booster gives on the
row training would build for the same applicant and time (Feast ``get_historical_features``,
training's own matrix and prediction code), to 1e-6. And the reasons given are the top positive
TreeSHAP contributions the predictor computes for that row, whose sum with the bias is the margin.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from credit_scoring.features import FEATURE_SERVICE, feature_names
from tests.credit_env import CreditEnv
from tests.transformer.conftest import Server

NAMES = feature_names()


@pytest.fixture(scope="module")
def offline(credit_env: CreditEnv) -> pd.DataFrame:
    """Historical feature rows, at one time after the last profile update, for 300 applicants.

    Only applicants whose newest profile is within the view's TTL at that time: offline retrieval
    applies the TTL, the online store serves the newest value regardless (no skew to test there).
    """
    from training.dataset import Split

    profile = credit_env.profile
    at = pd.Timestamp(profile["event_timestamp"].max()) + timedelta(days=1)
    ttl = credit_env.store.get_feature_view("applicant_profile").ttl
    newest = profile.groupby("applicant_id")["event_timestamp"].max()
    eligible = sorted(newest[newest > at - ttl].index)[:300]
    apps = credit_env.applications.set_index("applicant_id").loc[eligible].reset_index()
    entity_df = pd.DataFrame(
        {
            "applicant_id": apps["applicant_id"],
            "event_timestamp": at,
            "amount": apps["amount"].astype(float),
            "price": apps["price"].astype(float),
            "term": apps["term"].astype(int),
        }
    )
    store = credit_env.feature_store()
    frame = store.get_historical_features(
        entity_df=entity_df, features=store.get_feature_service(FEATURE_SERVICE)
    ).to_df()
    frame = frame.set_index("applicant_id").loc[eligible].reset_index()
    frame.attrs["matrix"] = Split.matrix(frame)
    return frame


@pytest.fixture(scope="module")
def booster(credit_env: CreditEnv):
    import mlflow

    mlflow.set_tracking_uri(credit_env.tracking_uri)
    return mlflow.xgboost.load_model(f"models:/{credit_env.model_name}/{credit_env.model_version}")


def _served(transformer: Server, frame: pd.DataFrame) -> list[dict]:
    instances = [
        {
            "applicant_id": r.applicant_id,
            "amount": float(r.amount),
            "price": float(r.price),
            "term": int(r.term),
        }
        for r in frame.itertuples()
    ]
    response = httpx.post(
        f"{transformer.url}/v1/models/credit-scoring:predict",
        json={"instances": instances},
        timeout=60,
        headers=transformer.auth,
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_served_pd_equals_booster_pd_on_the_offline_row(transformer: Server, offline: pd.DataFrame, booster):
    from training.model import predict_pd

    served = _served(transformer, offline)
    assert [a["applicant_id"] for a in served] == offline["applicant_id"].tolist()
    assert not any(a["thin_file"] for a in served)
    expected = predict_pd(booster, offline.attrs["matrix"])
    np.testing.assert_allclose([a["pd"] for a in served], expected, rtol=0, atol=1e-6)


def test_reasons_are_the_models_top_positive_contributions(
    transformer: Server, predictor: Server, offline: pd.DataFrame
):
    served = _served(transformer, offline)
    adverse = [i for i, a in enumerate(served) if a["decision"] in ("refer", "decline")]
    assert adverse, "the sample must contain refer/decline answers"
    matrix = offline.attrs["matrix"][adverse]
    raw = matrix.astype(np.float32).tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [len(adverse), len(NAMES)],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"pred_contribs": True},
        }
    )
    response = httpx.post(
        f"{predictor.url}/v2/models/credit-risk/infer",
        content=header + raw,
        timeout=60,
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    contributions = np.asarray(outputs["contributions"]["data"], dtype=np.float64).reshape(
        len(adverse), len(NAMES) + 1
    )
    margin = np.asarray(outputs["margin"]["data"], dtype=np.float64)
    # Contributions plus bias are the margin (float32 arithmetic inside XGBoost).
    np.testing.assert_allclose(contributions.sum(axis=1), margin, rtol=0, atol=1e-4)
    for row, i in enumerate(adverse):
        reasons = served[i]["reasons"]
        assert reasons, served[i]
        # Expected, independently: features with a value are ranked by positive contribution;
        # the features without a value count as one R00 reason by their net contribution.
        missing = np.isnan(matrix[row])
        named = [
            (c, n) for c, n, m in zip(contributions[row, :-1], NAMES, missing, strict=True) if c > 0 and not m
        ]
        pooled = [(c, n) for c, n, m in zip(contributions[row, :-1], NAMES, missing, strict=True) if m]
        net = sum(c for c, _ in pooled)
        expected = named + ([(net, ",".join(n for _, n in pooled))] if pooled and net > 0 else [])
        expected.sort(key=lambda item: -item[0])
        assert [r["feature"] for r in reasons] == [n for _, n in expected[: len(reasons)]]
        for r, (value, _) in zip(reasons, expected, strict=False):
            assert r["contribution"] > 0
            assert r["contribution"] == pytest.approx(value, abs=1e-5)

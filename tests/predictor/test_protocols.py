"""The predictor over real HTTP and gRPC: v1, v2 (JSON and binary), metadata, exact numbers."""

from __future__ import annotations

import math

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest

from credit_scoring import features as F
from credit_scoring.policy import ScorePolicy
from tests.predictor.conftest import Predictor
from tests.predictor.registry_helpers import Registered, credit_data

N_FEATURES = len(F.MODEL_FEATURES)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """Real applicants, including missing values (NaN) and every categorical column."""
    x, _ = credit_data()
    picked = x[np.r_[0:40, np.flatnonzero(np.isnan(x).any(axis=1))[:10]]]
    assert np.isnan(picked).any()
    return np.ascontiguousarray(picked)


@pytest.fixture(scope="module")
def reference_booster(served_model: Registered, mlflow_client_env: object) -> object:
    """The registered booster, loaded straight from the registry (not from the predictor)."""
    import mlflow.xgboost

    return mlflow.xgboost.load_model(f"models:/{served_model.name}/{served_model.version}")


def _json_rows(matrix: np.ndarray) -> list[list[float | None]]:
    return [[None if math.isnan(v) else float(v) for v in row] for row in matrix]


def _booster_pd(booster: object, matrix: np.ndarray, output_margin: bool = False) -> np.ndarray:
    import xgboost as xgb

    dmatrix = xgb.DMatrix(
        matrix, feature_names=F.feature_names(), feature_types=F.feature_types(), enable_categorical=True
    )
    return booster.predict(dmatrix, output_margin=output_margin)  # type: ignore[attr-defined]


def _v2(predictor: Predictor, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{predictor.url}/v2/models/credit-risk/infer", json=body, timeout=30)


def _outputs(response: httpx.Response) -> dict[str, np.ndarray]:
    assert response.status_code == 200, response.text
    doc = response.json()
    out = {}
    for o in doc["outputs"]:
        data = np.array([np.nan if v is None else v for v in o["data"]], dtype=np.float64)
        out[o["name"]] = data.reshape(o["shape"])
    return out


def test_v2_json_probability_equals_booster_predict(predictor, rows, reference_booster, served_model):
    response = _v2(
        predictor,
        {
            "inputs": [
                {"name": "features", "datatype": "FP32", "shape": list(rows.shape), "data": _json_rows(rows)}
            ]
        },
    )
    out = _outputs(response)
    expected = _booster_pd(reference_booster, rows)
    np.testing.assert_allclose(out["probability"], expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out["margin"], _booster_pd(reference_booster, rows, True), atol=1e-5, rtol=0)
    assert "contributions" not in out
    doc = response.json()
    assert doc["model_name"] == "credit-risk"
    assert doc["model_version"] == served_model.version
    params = doc["parameters"]
    assert params["model_name"] == served_model.name
    assert params["model_version"] == served_model.version
    assert params["model_alias"] == "champion"
    assert ScorePolicy.model_validate_json(params["credit_policy"]) == served_model.policy


def test_v2_contributions_plus_bias_equal_margin(predictor, rows, reference_booster):
    response = _v2(
        predictor,
        {
            "parameters": {"pred_contribs": True},
            "inputs": [
                {"name": "features", "datatype": "FP64", "shape": list(rows.shape), "data": _json_rows(rows)}
            ],
        },
    )
    out = _outputs(response)
    contributions = out["contributions"]
    assert contributions.shape == (rows.shape[0], N_FEATURES + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), out["margin"], atol=1e-4)
    import xgboost as xgb

    expected = reference_booster.predict(  # type: ignore[attr-defined]
        xgb.DMatrix(
            rows, feature_names=F.feature_names(), feature_types=F.feature_types(), enable_categorical=True
        ),
        pred_contribs=True,
    )
    np.testing.assert_allclose(contributions, expected, atol=1e-6)


def test_contributions_only_for_the_rows_the_caller_asks_for(predictor, rows, served_model):
    """The transformer's request: rows its policy could refuse (margin above the cut-off's) plus
    rows it knows need reasons (a mask); the predictor applies it and no policy of its own."""
    policy = served_model.policy
    assert policy is not None
    mask = [i < 3 for i in range(rows.shape[0])]
    response = _v2(
        predictor,
        {
            "parameters": {
                "explain_margin_above": policy.explain_margin_above(),
                "explain_for_version": served_model.version,
            },
            "inputs": [
                {"name": "features", "datatype": "FP32", "shape": list(rows.shape), "data": _json_rows(rows)},
                {"name": "explain_rows", "datatype": "BOOL", "shape": [rows.shape[0]], "data": mask},
            ],
        },
    )
    out = _outputs(response)
    score = policy.scale.score_from_margin(out["margin"])
    refused = score < policy.approve_min_score
    assert refused[3:].any(), "the sample must hold applicants below the approve cut-off"
    assert not refused[3:].all(), "the sample must hold approved applicants"
    computed = ~np.isnan(out["contributions"]).all(axis=1)
    np.testing.assert_array_equal(computed, refused | np.array(mask))
    np.testing.assert_allclose(out["contributions"][computed].sum(axis=1), out["margin"][computed], atol=1e-4)


def test_a_request_derived_for_another_version_gets_every_row_explained(predictor, rows, served_model):
    response = _v2(
        predictor,
        {
            "parameters": {"explain_margin_above": 1e9, "explain_for_version": "not-" + served_model.version},
            "inputs": [
                {"name": "features", "datatype": "FP32", "shape": list(rows.shape), "data": _json_rows(rows)}
            ],
        },
    )
    out = _outputs(response)
    assert np.isfinite(out["contributions"]).all()
    assert response.json()["model_version"] == served_model.version


def test_named_tensors_with_level_strings_match_the_matrix(predictor, rows):
    n = rows.shape[0]
    inputs = []
    for j, feature in enumerate(F.MODEL_FEATURES):
        column = rows[:, j]
        if feature.kind is F.Kind.CATEGORY:
            levels = F.CATEGORICAL_LEVELS[feature.name]
            data: list[object] = [None if math.isnan(v) else levels[int(v)] for v in column]
            inputs.append({"name": feature.name, "datatype": "BYTES", "shape": [n], "data": data})
        else:
            inputs.append(
                {
                    "name": feature.name,
                    "datatype": "FP64",
                    "shape": [n],
                    "data": [None if math.isnan(v) else float(v) for v in column],
                }
            )
    named = _outputs(_v2(predictor, {"parameters": {"content_type": "pd"}, "inputs": inputs[::-1]}))
    matrix = _outputs(
        _v2(
            predictor,
            {
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [n, N_FEATURES],
                        "data": _json_rows(rows),
                    }
                ]
            },
        )
    )
    np.testing.assert_array_equal(named["probability"], matrix["probability"])


def test_v1_round_trip_lists_and_objects(predictor, rows, reference_booster, served_model):
    expected = _booster_pd(reference_booster, rows[:5])
    as_lists = httpx.post(
        f"{predictor.url}/v1/models/credit-risk:predict", timeout=30, json={"instances": _json_rows(rows[:5])}
    )
    assert as_lists.status_code == 200, as_lists.text
    names = F.feature_names()
    objects = [
        {k: v for k, v in zip(names, row, strict=True) if v is not None} for row in _json_rows(rows[:5])
    ]
    for obj in objects:  # categoricals by level name in the object form
        for cat, levels in F.CATEGORICAL_LEVELS.items():
            if cat in obj:
                obj[cat] = levels[int(obj[cat])]
    as_objects = httpx.post(
        f"{predictor.url}/v1/models/credit-risk:predict",
        timeout=30,
        json={"instances": objects, "parameters": {"pred_contribs": True}},
    )
    assert as_objects.status_code == 200, as_objects.text
    for response in (as_lists, as_objects):
        doc = response.json()
        got = np.array([p["probability"] for p in doc["predictions"]])
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        assert doc["model_version"] == served_model.version
    first = as_objects.json()["predictions"][0]
    assert len(first["contributions"]) == N_FEATURES + 1
    assert math.isclose(sum(first["contributions"]), first["margin"], abs_tol=1e-4)


async def test_kserve_rest_client_binary_tensors(predictor, rows, reference_booster, served_model):
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        tensor = InferInput("features", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=True)  # the binary data extension
        request = InferRequest(
            model_name="credit-risk",
            infer_inputs=[tensor],
            parameters={"explain_margin_above": -100.0, "binary_data_output": True},
        )
        response = await client.infer(predictor.url, request, model_name="credit-risk")
    finally:
        await client.close()
    by_name = {o.name: o.as_numpy() for o in response.outputs}
    np.testing.assert_allclose(
        by_name["probability"], _booster_pd(reference_booster, rows), atol=1e-6, rtol=0
    )
    assert by_name["contributions"].shape == (rows.shape[0], N_FEATURES + 1)
    assert response.parameters["model_version"] == served_model.version


async def test_kserve_grpc_client_round_trip(predictor, rows, reference_booster, served_model):
    client = InferenceGRPCClient(predictor.grpc_target, timeout=30)
    try:
        assert await client.is_server_ready()
        assert await client.is_model_ready("credit-risk")
        tensor = InferInput("features", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        request = InferRequest(
            model_name="credit-risk", infer_inputs=[tensor], parameters={"pred_contribs": True}
        )
        response = await client.infer(request)
        wrong = InferInput("features", [1, 5], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 5), dtype=np.float32))
        with pytest.raises(grpc.RpcError) as bad:
            await client.infer(InferRequest(model_name="credit-risk", infer_inputs=[wrong]))
    finally:
        await client.close()
    by_name = {o.name: o.as_numpy() for o in response.outputs}
    np.testing.assert_allclose(
        by_name["probability"], _booster_pd(reference_booster, rows), atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(by_name["contributions"].sum(axis=1), by_name["margin"], atol=1e-4)
    assert response.model_version == served_model.version
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"[N, {N_FEATURES}]" in bad.value.details()


def test_v2_metadata_lists_real_inputs_and_outputs(predictor, served_model):
    doc = httpx.get(f"{predictor.url}/v2/models/credit-risk", timeout=10).json()
    assert doc["name"] == "credit-risk"
    assert doc["platform"] == "xgboost"
    assert doc["versions"] == [served_model.version]
    assert doc["inputs"] == [
        {"name": "features", "datatype": "FP32", "shape": [-1, N_FEATURES]},
        {"name": "explain_rows", "datatype": "BOOL", "shape": [-1]},
    ]
    assert {o["name"]: (o["datatype"], o["shape"]) for o in doc["outputs"]} == {
        "probability": ("FP64", [-1]),
        "margin": ("FP64", [-1]),
        "contributions": ("FP32", [-1, N_FEATURES + 1]),
    }
    assert httpx.get(f"{predictor.url}/v2/health/ready", timeout=10).status_code == 200


def test_metrics_on_the_rest_port(predictor, served_model, rows):
    labels = {"model": served_model.name}
    before = predictor.metric("credit_predict_rows_total", **labels) or 0.0
    _outputs(
        _v2(
            predictor,
            {
                "inputs": [
                    {
                        "name": "features",
                        "datatype": "FP32",
                        "shape": [3, N_FEATURES],
                        "data": _json_rows(rows[:3]),
                    }
                ]
            },
        )
    )
    assert predictor.metric("credit_predict_rows_total", **labels) == before + 3
    assert predictor.metric("credit_model_ready", **labels) == 1
    version = float(served_model.version)
    assert predictor.metric("credit_model_served_version", alias="champion", **labels) == version
    assert predictor.metric("credit_model_registry_version", alias="champion", **labels) == version
    assert predictor.metric("credit_model_reloads_total", outcome="success", **labels) == 1
    assert predictor.metric("credit_gc_frozen_objects") > 100_000  # serving.server.serve

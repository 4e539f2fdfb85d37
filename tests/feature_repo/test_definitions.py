"""The Feast declarations follow the contract, and the registry serves them to another process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta

import numpy as np

from credit_scoring.features import (
    APPLICATION_FIELDS,
    AUDIT_ONLY_FIELDS,
    DERIVATION_ONLY_FIELDS,
    DERIVED_FIELDS,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    MODEL_FEATURES,
    ON_DEMAND_VIEW,
    PROFILE_FIELDS,
    derive,
)


def test_profile_view_has_ttl_and_described_fields(credit_env):
    view = credit_env.store.get_feature_view(FEATURE_VIEW)
    assert view.ttl == timedelta(days=365)
    assert {f.name: f.description for f in view.features} == {f.name: f.description for f in PROFILE_FIELDS}
    assert all(f.description for f in view.features)
    assert [e for e in view.entities] == ["applicant"]


def test_feature_service_is_the_model_inputs(credit_env):
    service = credit_env.store.get_feature_service(FEATURE_SERVICE)
    served = {f.name for proj in service.feature_view_projections for f in proj.features}
    request = {f.name for f in APPLICATION_FIELDS}
    # Service + request fields = exactly the model's features; audit-only fields stay out.
    assert served | (request - DERIVATION_ONLY_FIELDS) == {f.name for f in MODEL_FEATURES}
    assert not served & AUDIT_ONLY_FIELDS
    assert not served & set(AUDIT_ONLY_FIELDS)
    assert {proj.name for proj in service.feature_view_projections} == {FEATURE_VIEW, ON_DEMAND_VIEW}


def test_on_demand_view_udf_is_the_contract(credit_env):
    odfv = credit_env.store.get_on_demand_feature_view(ON_DEMAND_VIEW)
    assert [f.name for f in odfv.features] == [f.name for f in DERIVED_FIELDS]
    rng = np.random.default_rng(1)
    inputs = {
        name: rng.uniform(0, 2000, 50).tolist()
        for name in ("amount", "price", "income", "expenses", "assets", "debt")
    }
    inputs["term"] = rng.integers(6, 60, 50).tolist()
    inputs["income"][0] = None  # missing income: ratios become missing, not errors
    out = odfv.transform_dict(inputs)
    for name, expected in derive(inputs).items():
        np.testing.assert_allclose(np.asarray(out[name], dtype=float), expected, equal_nan=True, err_msg=name)
    assert np.isnan(out["debt_to_income"][0])


def test_registry_serves_features_to_a_process_without_the_repo(credit_env, tmp_path):
    """What a transformer pod does: only the installed packages and a plain feature_store.yaml
    (registry on PostgreSQL, Redis); the on-demand UDF comes from the registry itself."""
    row = credit_env.applications.iloc[0]
    script = textwrap.dedent(f"""
        import json, sys
        sys.path = [p for p in sys.path if not p.rstrip("/").endswith("feature_repo")]
        from feast import FeatureStore
        store = FeatureStore(fs_yaml_file={str(credit_env.feature_store_yaml)!r}, repo_path={str(tmp_path)!r})
        out = store.get_online_features(
            features=store.get_feature_service({FEATURE_SERVICE!r}),
            entity_rows=[{{"applicant_id": {row["applicant_id"]!r}, "amount": {float(row["amount"])},
                           "price": {float(row["price"])}, "term": {int(row["term"])}}}],
        ).to_dict()
        print(json.dumps(out))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    local = credit_env.store.get_online_features(
        features=credit_env.store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[
            {
                "applicant_id": row["applicant_id"],
                "amount": float(row["amount"]),
                "price": float(row["price"]),
                "term": int(row["term"]),
            }
        ],
    ).to_dict()
    assert out == json.loads(json.dumps(local))
    assert out["loan_to_value"][0] == float(row["amount"]) / float(row["price"])

"""Feast declarations for the credit model: entity, source, views, feature service.

Declarations only (``feast apply`` imports every Python file in this folder). Every field,
type and description comes from ``credit_scoring.features``, the contract training and serving
share, so this file cannot disagree with the model about its inputs.

The offline source lives in ``$CREDIT_DATA_DIR`` (default ``$CREDIT_HOME/data``, CREDIT_HOME
default ``./.credit-scoring``): Feast evaluates this module itself, so the environment is the
only way to point it at a data folder. ``credit-scoring features apply`` sets it from its settings.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

from credit_scoring.features import (
    APPLICATION_FIELDS,
    AUDIT_ONLY_FIELDS,
    DERIVED_FIELDS,
    ENTITY_KEY,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    ON_DEMAND_VIEW,
    PROFILE_FIELDS,
    Feature,
    Kind,
)

_FEAST_TYPES = {Kind.INT: Int64, Kind.FLOAT: Float64, Kind.CATEGORY: String}


def _field(feature: Feature) -> Field:
    return Field(name=feature.name, dtype=_FEAST_TYPES[feature.kind], description=feature.description)


def _data_dir() -> Path:
    explicit = os.environ.get("CREDIT_DATA_DIR")
    if explicit:
        return Path(explicit).resolve()
    return (Path(os.environ.get("CREDIT_HOME", ".credit-scoring")) / "data").resolve()


applicant = Entity(
    name="applicant",
    join_keys=[ENTITY_KEY],
    value_type=ValueType.STRING,
    description="A credit applicant, identified by the lender's applicant id.",
)

applicant_profile_source = FileSource(
    name="applicant_profile_source",
    path=str(_data_dir() / "applicant_profile.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Applicant profile versions from the lender's systems (one row per change).",
)

applicant_profile = FeatureView(
    name=FEATURE_VIEW,
    entities=[applicant],
    # A profile not refreshed within a year is too stale to lend on: it reads as missing.
    ttl=timedelta(days=365),
    schema=[_field(f) for f in PROFILE_FIELDS],
    source=applicant_profile_source,
    online=True,
    description="The applicant's profile as known at a point in time.",
    tags={"contract": "credit_scoring.features.PROFILE_FIELDS"},
)

application = RequestSource(
    name="application",
    schema=[_field(f) for f in APPLICATION_FIELDS],
    description="Fields that arrive with the loan application itself.",
)


@on_demand_feature_view(
    name=ON_DEMAND_VIEW,
    sources=[applicant_profile, application],
    # No per-field descriptions here: Feast 0.67 compares declared fields (description included)
    # with the ones it infers by running the UDF, and inferred fields have none. The formulas
    # are in the view's description instead.
    schema=[Field(name=f.name, dtype=_FEAST_TYPES[f.kind]) for f in DERIVED_FIELDS],
    mode="python",
    description="Affordability ratios computed by credit_scoring.features.derive: "
    + "; ".join(f"{f.name} = {f.description}" for f in DERIVED_FIELDS),
)
def application_ratios(inputs: dict[str, Any]) -> dict[str, Any]:
    # Imported here so the pickled UDF refers to the installed contract module, not to this file.
    from credit_scoring.features import derive

    return {name: values.tolist() for name, values in derive(inputs).items()}


credit_model_v1 = FeatureService(
    name=FEATURE_SERVICE,
    features=[
        applicant_profile[[f.name for f in PROFILE_FIELDS if f.name not in AUDIT_ONLY_FIELDS]],
        application_ratios,
    ],
    description="Model inputs of the credit-risk model v1 (plus the request fields amount, price, term).",
    tags={"model": "credit-risk"},
)

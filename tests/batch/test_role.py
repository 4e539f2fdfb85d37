"""Batch answers carry ``model.role`` as online answers do: which side of the champion-challenger
setup the scored version is, read from the registry's aliases when the run starts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

from batch.scoring import load_model, registry_role
from credit_scoring.errors import RegistryUnavailable
from tests.credit_env import CreditEnv


class _Aliases:
    """Only ``get_model_version_by_alias``, answering as MLflow's REST store does."""

    def __init__(self, aliases: dict[str, str], broken: bool = False) -> None:
        self.aliases, self.broken = aliases, broken

    def get_model_version_by_alias(self, name: str, alias: str) -> SimpleNamespace:
        if self.broken:
            raise MlflowException("API request failed", INTERNAL_ERROR)
        if alias not in self.aliases:
            raise MlflowException(f"Registered model alias {alias} not found.", INVALID_PARAMETER_VALUE)
        return SimpleNamespace(version=self.aliases[alias])


@pytest.mark.parametrize(
    ("aliases", "version", "role"),
    [
        ({"champion": "3", "challenger": "4"}, "3", "champion"),
        ({"champion": "3", "challenger": "4"}, "4", "challenger"),
        ({"champion": "3", "challenger": "3"}, "3", "champion"),  # both: what production serves
        ({"champion": "3", "challenger": "4"}, "2", None),  # an old version, pinned for a re-run
        ({}, "1", None),
    ],
)
def test_a_pinned_version_takes_the_role_of_the_alias_pointing_at_it(aliases, version, role):
    assert registry_role(_Aliases(aliases), "credit-risk", version) == role


def test_a_registry_failure_is_not_taken_for_a_missing_alias():
    with pytest.raises(RegistryUnavailable, match="credit-risk@champion"):
        registry_role(_Aliases({}, broken=True), "credit-risk", "1")


@pytest.mark.parametrize("pinned", [False, True])
def test_the_champion_is_champion_by_alias_and_by_version(credit_env: CreditEnv, monkeypatch, pinned):
    """Against the session's real MLflow server: ``@champion`` and the version it points at."""
    for key, value in credit_env.env().items():
        monkeypatch.setenv(key, value)
    uri = f"models:/{credit_env.model_name}/{credit_env.model_version}" if pinned else credit_env.model_uri
    spec = load_model(uri, credit_env.tracking_uri)
    assert (spec.version, spec.role) == (credit_env.model_version, "champion")
    assert spec.alias == (None if pinned else "champion")

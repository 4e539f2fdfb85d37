"""Alias behaviour: the first version becomes champion and challenger; later ones only challenger.

Uses its own registered-model name so the session's ``credit-risk`` aliases stay where other
suites expect them.
"""

from __future__ import annotations

import uuid

from mlflow import MlflowClient

from training.registry import set_alias


def test_first_version_champion_later_versions_only_challenger(credit_env):
    name = f"credit-risk-aliases-{uuid.uuid4().hex[:6]}"
    client = MlflowClient(tracking_uri=credit_env.tracking_uri)

    first = credit_env.train_new_version(model_name=name, seed=1)
    assert first.version == "1"
    assert first.registered.aliases == ["challenger", "champion"]

    second = credit_env.train_new_version(model_name=name, seed=2)
    assert second.version == "2"
    assert second.registered.aliases == ["challenger"]
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_model_version_by_alias(name, "challenger").version == "2"
    # The first version lost challenger but kept champion.
    assert sorted(client.get_model_version(name, "1").aliases) == ["champion"]

    # Promotion is a separate, deliberate act; the next version again only becomes challenger.
    set_alias(credit_env.tracking_uri, name, "champion", "2")
    third = credit_env.train_new_version(model_name=name, seed=3)
    assert third.registered.aliases == ["challenger"]
    assert client.get_model_version_by_alias(name, "champion").version == "2"

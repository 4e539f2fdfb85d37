"""The shared session fixture itself: a registered champion whose artifacts live in S3."""

from __future__ import annotations


def test_credit_env_registers_champion(credit_env):
    assert credit_env.model_version == "1"
    assert credit_env.training.registered.aliases == ["challenger", "champion"]

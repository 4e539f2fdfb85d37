"""Fixtures of the packaging tests: nothing here needs a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.rendering import SCENARIOS, render_scenario


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rendered(scenario: str) -> tuple[dict[str, Any], ...]:
    return render_scenario(scenario)

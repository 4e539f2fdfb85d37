"""The GitOps values file: which exact model versions production serves.

Argo CD applies it over the chart (``manifests/gitops/apps/credit-scoring.yaml``). It pins
versions, never aliases, so nothing reaches production before a reviewed commit is synced, and
reverting that commit is a rollback::

    predictor:
      modelUri: models:/credit-risk/3     # the champion
    challenger:
      mode: split                         # off | shadow | split
      percent: 10                         # split: share of applicants decided by the challenger
      modelUri: models:/credit-risk/4

The file is written whole (header, then these keys in this order), so every promotion's diff is
exactly the lines that changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import yaml

__all__ = ["HEADER", "Mode", "PinnedState", "ValuesFileError", "model_uri", "parse_state", "render_state"]

HEADER = """\
# Production model pins of the credit-scoring chart. Argo CD applies this file after
# ci/prod-like-values.yaml (manifests/gitops/apps/credit-scoring.yaml), so each predictor serves
# exactly the version named here. Written by `credit-scoring promote` and the promotion hook on
# a review branch, with the evidence in the commit (docs/promotion.md); change it only through a
# reviewed commit. Reverting a promotion commit is a rollback.
"""

_PINNED = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[0-9]+)$")


class ValuesFileError(ValueError):
    """The values file does not pin versions the way promotions need."""


class Mode(StrEnum):
    OFF = "off"
    SHADOW = "shadow"
    SPLIT = "split"


def model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


@dataclass(frozen=True)
class PinnedState:
    model_name: str
    champion: str
    mode: Mode = Mode.OFF
    percent: int = 0
    challenger: str | None = None

    def describe(self) -> str:
        base = f"champion v{self.champion}"
        if self.mode is Mode.OFF or self.challenger is None:
            return f"{base}, no challenger"
        share = f" at {self.percent}%" if self.mode is Mode.SPLIT else ""
        return f"{base}, challenger v{self.challenger} in {self.mode.value}{share}"

    def with_challenger(self, mode: Mode, version: str, percent: int = 0) -> PinnedState:
        return replace(self, mode=mode, challenger=version, percent=percent if mode is Mode.SPLIT else 0)

    def without_challenger(self, champion: str) -> PinnedState:
        return replace(self, champion=champion, mode=Mode.OFF, percent=0, challenger=None)


def _version(uri: object, key: str) -> tuple[str, str]:
    match = _PINNED.match(str(uri))
    if match is None:
        raise ValuesFileError(
            f"{key} is {uri!r}: production pins exact versions (models:/<name>/<version>), never aliases"
        )
    return match["name"], match["version"]


def parse_state(text: str, model_name: str) -> PinnedState:
    """The pins in a values file's text (raises ``ValuesFileError`` naming the key at fault)."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValuesFileError(f"not YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValuesFileError("the values file is not a mapping")
    name, champion = _version((raw.get("predictor") or {}).get("modelUri"), "predictor.modelUri")
    if name != model_name:
        raise ValuesFileError(f"predictor.modelUri names model {name!r}, not {model_name!r}")
    block: dict[str, Any] = raw.get("challenger") or {}
    try:
        mode = Mode(str(block.get("mode", "off")))
    except ValueError as exc:
        raise ValuesFileError(f"challenger.mode is {block.get('mode')!r}: off, shadow or split") from exc
    if mode is Mode.OFF:
        return PinnedState(model_name, champion)
    challenger_name, challenger = _version(block.get("modelUri"), "challenger.modelUri")
    if challenger_name != model_name:
        raise ValuesFileError(f"challenger.modelUri names model {challenger_name!r}, not {model_name!r}")
    percent = int(block.get("percent", 0))
    if not 0 <= percent <= 100:
        raise ValuesFileError(f"challenger.percent is {percent}: 0-100")
    return PinnedState(model_name, champion, mode, percent if mode is Mode.SPLIT else 0, challenger)


def render_state(state: PinnedState) -> str:
    """The whole file for ``state``; with no challenger it still names one (the champion), so
    the chart's challenger block always holds a valid URI."""
    challenger = state.challenger if state.mode is not Mode.OFF and state.challenger else state.champion
    body = {
        "predictor": {"modelUri": model_uri(state.model_name, state.champion)},
        "challenger": {
            "mode": state.mode.value,
            "percent": state.percent,
            "modelUri": model_uri(state.model_name, challenger),
        },
    }
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)

"""Which rows the predictor explains: the caller's request, the predictor's rule.

TreeSHAP contributions cost far more than a margin, so the predictor computes them only for the
rows its caller says need adverse-action reasons. The caller (the transformer) holds the credit
policy; the predictor holds none and only applies the request:

- ``all``: every row (v2 parameter ``pred_contribs: true``);
- ``margin_above``: rows whose margin (log-odds of default) is above this value
  (``explain_margin_above``; ``credit_scoring.policy.ScorePolicy.explain_rows`` derives it from
  the approve cut-off);
- ``rows``: rows to explain whatever their margin, e.g. thin files the policy refers
  (a BOOL input tensor ``explain_rows`` of shape ``[N]``);
- ``for_version``: the model version the margin was derived from (``explain_for_version``). A
  predictor that scores with another version (the alias moved since the caller last heard from
  it) explains *every* row instead: the caller then decides with the policy of the version that
  scored and still finds the contributions it needs, without a second call.

Rows not explained get NaN contributions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_scoring.errors import fail

__all__ = ["ALL_PARAMETER", "MARGIN_PARAMETER", "ROWS_INPUT", "VERSION_PARAMETER", "ExplainRows"]

ALL_PARAMETER = "pred_contribs"
MARGIN_PARAMETER = "explain_margin_above"
VERSION_PARAMETER = "explain_for_version"
ROWS_INPUT = "explain_rows"


@dataclass(frozen=True, eq=False)
class ExplainRows:
    """Which rows get contributions (see the module docstring); the default explains none."""

    all: bool = False
    margin_above: float | None = None
    rows: np.ndarray | None = None
    """bool ``[N]``, or None."""
    for_version: str | None = None

    @property
    def any(self) -> bool:
        """Whether any row may need contributions (False: margins only)."""
        return self.all or self.margin_above is not None or (self.rows is not None and bool(self.rows.any()))

    def explains_all(self, version: str) -> bool:
        """Every row of a batch scored by ``version`` is explained, whatever its margin."""
        return self.all or (self.for_version is not None and self.for_version != version)

    def select(self, margin: np.ndarray, version: str) -> np.ndarray:
        """bool ``[N]``: the rows of a batch scored by ``version`` with ``margin`` to explain."""
        n = margin.shape[0]
        if self.explains_all(version):
            return np.ones(n, dtype=bool)
        mask = np.zeros(n, dtype=bool) if self.rows is None else self.rows.copy()
        if self.margin_above is not None:
            mask |= np.asarray(margin, dtype=np.float64) > self.margin_above
        return mask

    # ------------------------------------------------------------------ v2 request parameters
    def parameters(self) -> dict[str, Any]:
        """The v2 request parameters for this request (``rows`` travels as an input tensor).

        Over gRPC, whose parameters have no floating-point type, the wire module sends the margin
        as its decimal string (``serving.v2``); ``from_parameters`` reads either.
        """
        out: dict[str, Any] = {}
        if self.all:
            out[ALL_PARAMETER] = True
        if self.margin_above is not None:
            out[MARGIN_PARAMETER] = float(self.margin_above)
        if self.for_version is not None:
            out[VERSION_PARAMETER] = self.for_version
        return out

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any], rows: np.ndarray | None = None) -> ExplainRows:
        """Read (and check) the request parameters; every problem is a 400 naming the parameter."""
        if rows is None and params.keys().isdisjoint(_PARAMETERS):
            return _NONE  # the common case of a plain request: nothing to read
        return cls(
            all=_flag(params.get(ALL_PARAMETER)),
            margin_above=_number(params.get(MARGIN_PARAMETER)),
            rows=rows,
            for_version=_text(params.get(VERSION_PARAMETER)),
        )


_PARAMETERS = frozenset({ALL_PARAMETER, MARGIN_PARAMETER, VERSION_PARAMETER})
_NONE = ExplainRows()


def _flag(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    hint = ""
    if value == "adverse":
        hint = (
            f'; "adverse" is gone: send {MARGIN_PARAMETER} (and the {ROWS_INPUT} input), which the '
            "caller derives from its credit policy"
        )
    raise fail(f"parameters.{ALL_PARAMETER}", f"must be true or false{hint}")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or math.isnan(number):
        raise fail(f"parameters.{MARGIN_PARAMETER}", "must be a number (or a decimal string over gRPC)")
    return number


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise fail(f"parameters.{VERSION_PARAMETER}", "must be a non-empty string (a model version)")
    return value

"""``split`` mode: the challenger predictor decides a sticky share of applicants.

``Split`` is the challenger's side: its predictor client, its own ``PolicyBook`` (a challenger
decision uses the policy its version's predictor sends with every answer, exactly as the
champion's does), and its version, the salt of the routing hash (``transformer.routing``).

The salt is the version the challenger predictor last reported: its v2 metadata (``versions``)
before its first answer, then the version of each answer. A predictor following an alias that
moves to a new version therefore re-draws the sample from its next answer on (a new version is a
new experiment). ``Part`` is one side's share of a request: the rows it decided, in request order,
and what its predictor answered for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inference_log import Role
from transformer.answers import PolicyBook
from transformer.online_features import FeatureBatch
from transformer.predictor_client import PredictorClient
from transformer.routing import BUCKETS, challenger_rows

__all__ = ["Split", "take_rows"]


class Split:
    def __init__(self, client: PredictorClient, percent: int) -> None:
        if not 0 <= percent <= BUCKETS:
            raise ValueError(f"challenger percent must be 0-{BUCKETS}, not {percent}")
        self.client = client
        self.percent = percent
        self.policies = PolicyBook()
        self.version: str | None = None

    async def challenger_rows(self, applicant_ids: Sequence[str]) -> np.ndarray:
        """bool ``[N]``: the applicants the challenger decides. Asks the challenger predictor for
        its version only when the salt matters (0 < percent < 100) and no answer has given it yet;
        an unreachable challenger then raises ``PredictorUnavailable`` (503)."""
        salt = ""
        if 0 < self.percent < BUCKETS:
            if self.version is None:
                self.version = await self.client.served_version()
            salt = self.version
        return challenger_rows(applicant_ids, self.percent, salt)

    def answered(self, version: str) -> None:
        """The challenger answered with ``version``: the salt of the next requests."""
        self.version = version

    @staticmethod
    def roles(rows: np.ndarray) -> list[tuple[Role, np.ndarray]]:
        """``(role, row indexes)`` of each side that has rows, champion first."""
        sides = [(Role.CHAMPION, np.flatnonzero(~rows)), (Role.CHALLENGER, np.flatnonzero(rows))]
        return [(role, index) for role, index in sides if index.size]


def take_rows(features: FeatureBatch, rows: np.ndarray) -> FeatureBatch:
    """The rows ``rows`` (indexes, in order) of a feature batch, as a batch of their own."""
    columns: dict[str, Any] = {}
    for name, column in features.columns.items():
        if isinstance(column, np.ndarray):
            columns[name] = column[rows]
        else:
            columns[name] = [column[i] for i in rows.tolist()]
    return FeatureBatch(features.matrix[rows], features.has_profile[rows], columns)

"""Shadow scoring: the challenger predictor scores a copy of each batch in the background.

Its answers go to the inference log (role ``challenger``, ``served`` false) and the answer
metrics, never to the client, who never waits for it. It is the same ``call_predictor`` as the
champion's (one call, the challenger's own policy), with its own ``PolicyBook``. Bounded: when
``max_in_flight`` shadow calls are already running, a batch is not shadowed (counted), so a slow
challenger can never build up
memory or latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from credit_scoring.errors import CreditScoringError
from inference_log import Role
from serving.context import RequestContext
from transformer import metrics
from transformer.answers import PolicyBook
from transformer.online_features import FeatureBatch
from transformer.payloads import ApplicationBatch
from transformer.predictor_client import PredictorClient

if TYPE_CHECKING:
    from transformer.model import CreditScoringModel

__all__ = ["Shadow"]

log = logging.getLogger(__name__)


class Shadow:
    def __init__(self, model: CreditScoringModel, client: PredictorClient, max_in_flight: int) -> None:
        self.model = model
        self.client = client
        self.max_in_flight = max_in_flight
        self.policies = PolicyBook()
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned = 0.0

    def start(self, batch: ApplicationBatch, features: FeatureBatch, context: RequestContext) -> None:
        if len(self._tasks) >= self.max_in_flight:
            metrics.SHADOW_SKIPPED.inc(len(batch))
            return
        task = asyncio.get_running_loop().create_task(self._score(batch, features, context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _score(self, batch: ApplicationBatch, features: FeatureBatch, context: RequestContext) -> None:
        model = self.model
        try:
            scoring = await model.call_predictor(self.client, self.policies, features, context)
            answers = model.answers(batch, scoring, context.request_id, Role.CHALLENGER)
        except CreditScoringError as exc:
            metrics.DEPENDENCY_FAILURES.labels(dependency="shadow_predictor").inc()
            now = time.monotonic()
            if now - self._warned > 30.0:  # one line per 30 s, not one per request
                self._warned = now
                log.warning("shadow scoring failed (answers are unaffected): %s", exc)
            return
        metrics.observe_answers(answers, Role.CHALLENGER.value)
        model.remember(Role.CHALLENGER, scoring.prediction)
        model.log_answers(batch, scoring, answers, context, Role.CHALLENGER, served=False)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

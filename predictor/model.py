"""``CreditRiskModel``: the KServe model that serves the registry's current credit-risk booster.

One core, ``score``: the version being served scores the query's matrix (micro-batched with
concurrent requests), explains the rows the caller asked for, and counts the rows. Every
transport only decodes and encodes around it:

- the fast REST routes (``fast_routes``: v2 infer and v1 predict, answered by ``serving.asgi``
  from the raw body with ``serving.v2.rest``);
- KServe's ``predict`` hook, which KServe's own REST routes and its gRPC servicer call with an
  ``InferRequest`` (converted by ``serving.v2.kserve``) or a v1 dict.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kserve import Model
from kserve.protocol.infer_type import InferRequest, InferResponse

from credit_scoring.errors import ModelNotReady
from predictor import codec
from predictor.metrics import PredictorMetrics
from predictor.scoring import LoadedModel, MicroBatcher, ModelOutputs
from predictor.watcher import ModelWatcher
from serving.asgi import FastRoute, HttpRequest, Reply
from serving.context import REQUEST_ID_HEADER, request_id_from
from serving.v2 import INFERENCE_HEADER, rest
from serving.v2.kserve import from_kserve_request, to_kserve_response

__all__ = ["CreditRiskModel", "VersionedOutputs"]

logger = logging.getLogger(__name__)

_INFERENCE_HEADER = INFERENCE_HEADER.encode()


@dataclass(frozen=True)
class VersionedOutputs:
    """A query's outputs and the version that produced them."""

    model: LoadedModel
    outputs: ModelOutputs


class CreditRiskModel(Model):
    """Probability of default, margin and TreeSHAP contributions from the followed registry version."""

    platform = "xgboost"

    def __init__(
        self,
        name: str,
        watcher: ModelWatcher,
        batcher: MicroBatcher,
        metrics: PredictorMetrics,
        max_rows: int,
    ) -> None:
        super().__init__(name)
        self._watcher = watcher
        self._batcher = batcher
        self._max_rows = max_rows
        self._rows = metrics.rows.labels(model=watcher.registry.ref.name)
        self.ready = False
        watcher.on_change = self.on_model_change

    # ------------------------------------------------------------------ KServe lifecycle
    def start(self) -> None:
        """Begin following the registry in the background; readiness follows the first load."""
        self._watcher.start()

    def stop(self) -> None:
        self._watcher.stop()
        self.ready = False

    def load(self) -> bool:
        # KServe calls load() on every request to a model that is not ready; loading happens in
        # the watcher thread, so this only reports.
        self.ready = self._watcher.current is not None
        return bool(self.ready)

    def on_model_change(self, _loaded: LoadedModel) -> None:
        self.ready = True

    def served_versions(self) -> list[str]:
        current = self._watcher.current
        return [current.version] if current else []

    def get_input_types(self) -> list[dict[str, Any]]:
        return codec.INPUT_METADATA

    def get_output_types(self) -> list[dict[str, Any]]:
        return codec.OUTPUT_METADATA

    # ------------------------------------------------------------------ the core
    async def score(self, query: codec.Query) -> VersionedOutputs:
        """Score ``query`` with the version served now (read once: a hot swap during the request
        does not change the version that answers it)."""
        model = self._watcher.current
        if model is None:
            raise ModelNotReady(f"model {self.name} is not ready: {self._watcher.last_error}")
        outputs = await self._batcher.predict(model, query.matrix, query.explain)
        self._rows.inc(query.matrix.shape[0])
        return VersionedOutputs(model, outputs)

    # ------------------------------------------------------------------ transports
    def fast_routes(self) -> list[FastRoute]:
        return [
            FastRoute(f"/v2/models/{self.name}/infer", self._v2_route),
            FastRoute(f"/v1/models/{self.name}:predict", self._v1_route),
        ]

    async def _v2_route(self, request: HttpRequest) -> Reply:
        length = rest.json_length(request.headers.get(_INFERENCE_HEADER), len(request.body))
        query = codec.query_from_v2(rest.decode_request(request.body, length), self._max_rows)
        scored = await self.score(query)
        body, header_length = rest.encode_response(
            codec.v2_response(self.name, scored.model, query, scored.outputs, request.request_id)
        )
        if header_length is None:
            return Reply(body)
        return Reply(
            body,
            content_type=b"application/octet-stream",
            headers=((_INFERENCE_HEADER, str(header_length).encode()),),
        )

    async def _v1_route(self, request: HttpRequest) -> Reply:
        scored = await self.score(codec.query_from_v1(request.body, self._max_rows))
        return Reply(codec.v1_body(self.name, scored.model, scored.outputs))

    async def predict(
        self,
        payload: InferRequest | dict[str, Any],
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse | dict[str, Any]:
        """KServe's hook: gRPC v2, and REST requests not taken by the fast routes."""
        if isinstance(payload, InferRequest):
            query = codec.query_from_v2(from_kserve_request(payload), self._max_rows)
            scored = await self.score(query)
            request_id = request_id_from((headers or {}).get(REQUEST_ID_HEADER))
            response = codec.v2_response(self.name, scored.model, query, scored.outputs, request_id)
            return to_kserve_response(response, payload)
        scored = await self.score(codec.query_from_v1(payload, self._max_rows))
        return codec.v1_answer(self.name, scored.model, scored.outputs, dict(scored.model.parameters))

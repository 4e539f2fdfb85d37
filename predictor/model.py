"""``CreditRiskModel``: the KServe model that serves the registry's current credit-risk booster.

KServe hooks on top (``start``/``stop``/``load``/``predict``/metadata), helpers below. gRPC and
any REST request KServe routes itself go through ``predict``; the hot REST paths (v2 infer, v1
predict) are answered by ``infer_v2``/``infer_v1`` as fast routes (see ``credit_scoring.serving``)
with the same decoding, scoring and encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kserve import Model
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from credit_scoring.errors import ModelNotReady
from credit_scoring.serving import FastRoute, Reply
from predictor import codec
from predictor.metrics import PredictorMetrics
from predictor.reloader import ModelWatcher
from predictor.scoring import LoadedModel, Scorer

__all__ = ["CreditRiskModel"]

logger = logging.getLogger(__name__)


class CreditRiskModel(Model):
    """Probability of default, margin and TreeSHAP contributions from the followed registry version."""

    platform = "xgboost"

    def __init__(
        self, name: str, watcher: ModelWatcher, scorer: Scorer, metrics: PredictorMetrics, max_rows: int
    ) -> None:
        super().__init__(name)
        self._watcher = watcher
        self._scorer = scorer
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

    def fast_routes(self) -> list[FastRoute]:
        return [
            FastRoute(f"/v2/models/{self.name}/infer", self.infer_v2),
            FastRoute(f"/v1/models/{self.name}:predict", self.infer_v1),
        ]

    # ------------------------------------------------------------------ inference
    async def predict(
        self,
        payload: InferRequest | dict[str, Any],
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse | dict[str, Any]:
        """KServe's path (gRPC v2, and REST requests not taken by the fast routes)."""
        model = self._serving()
        if isinstance(payload, InferRequest):
            decoded = codec.decode_infer_request(payload, self._max_rows)
            scores = await self._scorer.score(model, decoded.matrix, decoded.contribs.value)
            self._rows.inc(decoded.matrix.shape[0])
            outputs = []
            for name, datatype, shape, arr, _binary in codec.select_outputs(decoded, scores):
                out = InferOutput(name=name, shape=shape, datatype=datatype)
                out.set_data_from_numpy(arr.reshape(shape), binary_data=True)
                outputs.append(out)
            return InferResponse(
                response_id=decoded.request_id or "",
                model_name=self.name,
                model_version=model.version,
                infer_outputs=outputs,
                parameters=dict(model.parameters),
                from_grpc=payload.from_grpc,
                use_binary_outputs=payload.from_grpc,
            )
        decoded = codec.decode_v1(payload, self._max_rows)
        scores = await self._scorer.score(model, decoded.matrix, decoded.contribs.value)
        self._rows.inc(decoded.matrix.shape[0])
        return codec.v1_response(self.name, model, scores, dict(model.parameters))

    async def infer_v2(self, body: bytes, headers: Mapping[bytes, bytes]) -> Reply:
        model = self._serving()
        decoded = codec.decode_v2(body, headers, self._max_rows)
        scores = await self._scorer.score(model, decoded.matrix, decoded.contribs.value)
        self._rows.inc(decoded.matrix.shape[0])
        return codec.encode_v2(self.name, model, decoded, scores)

    async def infer_v1(self, body: bytes, headers: Mapping[bytes, bytes]) -> Reply:
        model = self._serving()
        decoded = codec.decode_v1(body, self._max_rows)
        scores = await self._scorer.score(model, decoded.matrix, decoded.contribs.value)
        self._rows.inc(decoded.matrix.shape[0])
        return codec.encode_v1(self.name, model, scores)

    def _serving(self) -> LoadedModel:
        # Read the reference once: this request finishes on this version even if a reload swaps.
        model = self._watcher.current
        if model is None:
            raise ModelNotReady(f"model {self.name} is not ready: {self._watcher.last_error}")
        return model

"""``credit-scoring``: the public KServe model. Hooks on top, helpers below.

``preprocess`` validates the batch and reads its features (one online-store round trip),
``predict`` calls the predictor once (contributions only for refer/decline rows), and
``postprocess`` builds the credit answers, counts them and hands them to the inference log.
KServe's own ``request_*_seconds`` histograms time the three hooks; ``credit_stage_duration_seconds``
times the four stages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from kserve import Model
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from credit_scoring.audit import age_bands, marital_status
from credit_scoring.errors import CreditScoringError, FeatureStoreUnavailable, PredictorUnavailable
from inference_log import ApplicantHasher, InferenceRecord, RecordBatch, Role
from transformer import metrics
from transformer.answers import PolicyCache, Scored, build_answers, score_batch
from transformer.online_features import FeatureBatch, OnlineFeatures
from transformer.payloads import ScoringRequest, decode_infer_request, decode_v1, request_id_from
from transformer.predictor_client import Prediction, PredictorClient, PredictorRejected

__all__ = ["CreditScoringModel", "InferenceSink", "ScoringResult"]

log = logging.getLogger(__name__)

INPUT_TYPES = (("applicant_id", "BYTES"), ("amount", "FP64"), ("price", "FP64"), ("term", "INT64"))
OUTPUT_TYPES = (
    ("answers", "BYTES"),
    ("pd", "FP64"),
    ("score", "FP64"),
    ("decision", "BYTES"),
    ("risk_band", "BYTES"),
    ("thin_file", "BOOL"),
)


class InferenceSink(Protocol):
    """Where records go after the answers are given (``inference_log``'s writer):
    ``submit`` never blocks and never raises."""

    def submit(self, records: Iterable[InferenceRecord] | RecordBatch) -> None: ...

    def close(self, timeout: float = 30.0) -> None: ...


@dataclass
class _Work:
    """One request as it moves through the hooks."""

    request: ScoringRequest
    request_id: str
    started: float
    grpc: bool = False
    features: FeatureBatch | None = None
    prediction: Prediction | None = None
    contributions: np.ndarray | None = None
    scored: Scored | None = None
    forward: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoringResult:
    """What the HTTP boundary renders for v1 or v2."""

    answers: list[dict[str, Any]]
    request: ScoringRequest
    request_id: str
    model_version: str


class CreditScoringModel(Model):
    def __init__(
        self,
        name: str,
        features: OnlineFeatures,
        predictor: PredictorClient,
        *,
        max_batch: int,
        forward_headers: Sequence[str],
        role: str = "champion",
        sink: InferenceSink | None = None,
        hasher: ApplicantHasher | None = None,
        shadow: PredictorClient | None = None,
        shadow_max_in_flight: int = 4,
    ) -> None:
        super().__init__(name)
        self.features = features
        self.predictor = predictor
        self.max_batch = max_batch
        self.forward_headers = tuple(h.lower() for h in forward_headers)
        self.role = Role(role)
        self.sink = sink
        self.hasher = hasher
        self.policies = PolicyCache()
        self.shadow = shadow
        self.shadow_max_in_flight = shadow_max_in_flight
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._shadow_warned = 0.0
        # role -> (model name, version, alias) of the predictor that answered last (for /monitoring).
        self.last_served: dict[str, tuple[str, str, str]] = {}

    def load(self) -> bool:
        # Features and predictor are reached per request (and report 503 while down), so the
        # transformer is ready as soon as its registry view is resolved, which __init__ did.
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict[str, Any]]:
        """``GET /v2/models/credit-scoring``: one tensor per application field (or one BYTES
        ``applications`` tensor of JSON objects instead)."""
        return [{"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in INPUT_TYPES]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in OUTPUT_TYPES]

    def validate(self, payload: Any) -> Any:
        # KServe's default looks into dict payloads; ours is already validated in preprocess.
        return payload

    # ------------------------------------------------------------------ hooks
    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> _Work:
        headers = headers or {}
        started = time.perf_counter()
        request_id = request_id_from(headers)
        grpc = isinstance(payload, InferRequest)
        with metrics.stage("validate"):
            if isinstance(payload, ScoringRequest):
                request = payload
            elif grpc:
                request = decode_infer_request(payload, self.max_batch)
            elif isinstance(payload, dict):
                # KServe's own v1 decoding (e.g. a CloudEvent body) hands us the parsed dict.
                import orjson

                request = decode_v1(orjson.dumps(payload), None, self.max_batch)
            else:
                request = decode_v1(
                    payload if isinstance(payload, bytes) else b"",
                    headers.get("content-type"),
                    self.max_batch,
                )
        work = _Work(request, request_id, started, grpc=grpc)
        with metrics.stage("features"):
            try:
                work.features = await self.features.lookup(request.applications)
            except FeatureStoreUnavailable:
                metrics.DEPENDENCY_FAILURES.labels(dependency="feature_store").inc()
                raise
        return work

    async def predict(
        self,
        payload: _Work,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> _Work:
        work = payload
        assert work.features is not None
        forward = {k: v for k, v in (headers or {}).items() if k in self.forward_headers}
        forward["x-request-id"] = work.request_id
        work.forward = forward
        with metrics.stage("predict"):
            try:
                work.prediction, work.contributions, work.scored = await self._predict(
                    self.predictor, work.features, forward
                )
            except PredictorUnavailable:
                metrics.DEPENDENCY_FAILURES.labels(dependency="predictor").inc()
                raise
        return work

    async def postprocess(
        self,
        result: _Work,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> ScoringResult | InferResponse:
        work = result
        assert work.features is not None
        assert work.prediction is not None
        assert work.scored is not None
        prediction, scored = work.prediction, work.scored
        with metrics.stage("answer"):
            answers = self._answer(work, prediction, work.contributions, scored)
            metrics.observe_answers(answers, self.role.value)
            self._log(work, prediction, answers, scored, self.role)
        if self.shadow is not None:
            self._start_shadow(work)
        self.last_served[self.role.value] = (
            prediction.model_name,
            prediction.model_version,
            prediction.model_alias or "",
        )
        out = ScoringResult(answers, work.request, work.request_id, prediction.model_version)
        return _to_infer_response(self.name, out) if work.grpc else out

    # ------------------------------------------------------------------ helpers
    async def _predict(
        self, client: PredictorClient, features: FeatureBatch, forward: dict[str, str]
    ) -> tuple[Prediction, np.ndarray | None, Scored]:
        """One call, contributions for the rows the model refers or declines; returns the
        prediction, its contributions and its decisions (scored once, used by the answer and the log).

        Thin-file rows the model would approve are referred by policy; they need reasons too.
        The predictor explains those as well (it sees the missing profile), but should it not,
        they (only they) get a second, small call. If the model version changed between the two
        calls (a hot reload), the whole batch is scored again with contributions for every row,
        so one answer never mixes two versions.
        """
        prediction = await client.infer(features.matrix, "adverse", forward)
        policy = self.policies.get(prediction.credit_policy)
        scored = score_batch(prediction, policy, ~features.found)
        contributions = prediction.contributions
        have = (
            np.zeros(len(features.found), dtype=bool)
            if contributions is None
            else np.isfinite(contributions).all(axis=1)
        )
        missing = scored.adverse_rows() & ~have
        if not missing.any():
            return prediction, contributions, scored
        rows = np.flatnonzero(missing)
        extra = await client.infer(features.matrix[rows], "all", forward)
        if extra.model_version != prediction.model_version or extra.contributions is None:
            full = await client.infer(features.matrix, "all", forward)
            if full.contributions is None:
                raise PredictorRejected("predictor returned no contributions although asked for all rows")
            rescored = score_batch(full, self.policies.get(full.credit_policy), ~features.found)
            return full, full.contributions, rescored
        filled = (
            np.full((len(features.found), extra.contributions.shape[1]), np.nan)
            if contributions is None
            else contributions.copy()
        )
        filled[rows] = extra.contributions
        return prediction, filled, scored

    def _answer(
        self, work: _Work, prediction: Prediction, contributions: np.ndarray | None, scored: Scored
    ) -> list[dict[str, Any]]:
        assert work.features is not None
        return build_answers(
            work.request.applications,
            prediction,
            contributions,
            scored,
            self.policies.get(prediction.credit_policy),
            ~work.features.found,
            work.request_id,
            missing=np.isnan(work.features.matrix),
            values=work.features.matrix,
        )

    def _log(
        self, work: _Work, prediction: Prediction, answers: list[dict[str, Any]], scored: Scored, role: Role
    ) -> None:
        """Hand the batch to the inference log (non-blocking; the writer batches off the request path)."""
        if self.sink is None or self.hasher is None:
            return
        assert work.features is not None
        apps = work.request.applications
        columns = work.features.columns
        self.sink.submit(
            RecordBatch.from_scored(
                request_id=work.request_id,
                applicant_ids=[a.applicant_id for a in work.request.applications],
                hasher=self.hasher,
                matrix=work.features.matrix,
                pd=prediction.probability,
                score=scored.score,
                decisions=scored.decisions,
                risk_bands=scored.bands,
                reason_codes=[[r["code"] for r in a["reasons"]] for a in answers],
                thin_file=~work.features.found,
                model_name=prediction.model_name,
                model_version=prediction.model_version,
                model_alias=prediction.model_alias,
                role=role,
                latency_ms=(time.perf_counter() - work.started) * 1000.0,
                application_ids=[a.application_id for a in apps],
                # Audit attributes from the profile, for fairness monitoring; never scored on.
                age_bands=age_bands(columns["age"]) if "age" in columns else None,
                marital=[marital_status(v) for v in columns["marital"]] if "marital" in columns else None,
            )
        )

    # ------------------------------------------------------------------ shadow
    def _start_shadow(self, work: _Work) -> None:
        """Score the same batch with the challenger in the background; the client never waits.

        Bounded: when ``shadow_max_in_flight`` shadow calls are already running, this batch is
        not shadowed (counted), so a slow challenger can never build up memory or latency here.
        """
        if len(self._shadow_tasks) >= self.shadow_max_in_flight:
            metrics.SHADOW_SKIPPED.inc(len(work.request.applications))
            return
        task = asyncio.get_running_loop().create_task(self._shadow_score(work))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow_score(self, work: _Work) -> None:
        assert self.shadow is not None
        assert work.features is not None
        try:
            prediction, contributions, scored = await self._predict(self.shadow, work.features, work.forward)
            answers = self._answer(work, prediction, contributions, scored)
        except CreditScoringError as exc:
            metrics.DEPENDENCY_FAILURES.labels(dependency="shadow_predictor").inc()
            now = time.monotonic()
            if now - self._shadow_warned > 30.0:  # one line per 30 s, not one per request
                self._shadow_warned = now
                log.warning("shadow scoring failed (answers are unaffected): %s", exc)
            return
        metrics.observe_answers(answers, Role.CHALLENGER.value)
        self.last_served[Role.CHALLENGER.value] = (
            prediction.model_name,
            prediction.model_version,
            prediction.model_alias or "",
        )
        self._log(work, prediction, answers, scored, Role.CHALLENGER)

    def stop(self) -> None:
        """KServe unloads the model on shutdown: write what the inference log still holds."""
        super().stop()
        for task in list(self._shadow_tasks):
            task.cancel()
        if self.sink is not None:
            self.sink.close()


def _to_infer_response(model_name: str, result: ScoringResult) -> InferResponse:
    from transformer.rendering import v2_outputs

    outputs = [
        InferOutput(name=o["name"], shape=o["shape"], datatype=o["datatype"], data=o["data"])
        for o in v2_outputs(result.answers)
    ]
    return InferResponse(
        response_id=result.request.request_id or result.request_id,
        model_name=model_name,
        infer_outputs=outputs,
        model_version=result.model_version,
        parameters={"request_id": result.request_id},
    )

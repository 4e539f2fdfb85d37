"""``credit-scoring``: the public KServe model. One core, ``score``; thin transports around it.

``score(payload, context)`` is the whole request: readiness, decoding (any transport's payload,
``transformer.payloads``), the applicants' features (one online-store round trip), **one** call
to the predictor, decisions with the policy of the version that scored, reasons, the answers,
the inference log and the shadow call, stage metrics and the one log line. Every entry point
reaches it through KServe's hooks (so KServe's ``request_*_seconds`` histograms time every
request): the fast REST routes (``transformer.routes``) call the model with a ``RawBody``,
KServe's own REST routes and gRPC with an ``InferRequest`` or a v1 dict. ``preprocess`` only
builds the request context, ``predict`` runs ``score``, ``postprocess`` renders the answers in the
form the request came in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from kserve import Model

from credit_scoring.audit import age_bands, marital_status
from credit_scoring.errors import (
    CreditScoringError,
    FeatureStoreUnavailable,
    ModelNotReady,
    PredictorUnavailable,
)
from credit_scoring.policy import ScorePolicy, thin_file
from inference_log import ApplicantHasher, InferenceRecord, RecordBatch, Role
from serving.context import RequestContext
from serving.v2 import rest
from serving.v2.kserve import to_kserve_response
from transformer import metrics
from transformer.answers import Decisions, PolicyBook, build_answers, decide
from transformer.online_features import FeatureBatch, OnlineFeatures
from transformer.payloads import ApplicationBatch, RawBody, decode
from transformer.predictor_client import Prediction, PredictorClient
from transformer.rendering import OUTPUT_TYPES, v1_body, v2_response
from transformer.shadow import Shadow
from transformer.split import Split, take_rows

__all__ = ["CreditAnswers", "CreditScoringModel", "InferenceSink", "Scoring"]

log = logging.getLogger("transformer.access")

INPUT_TYPES = (("applicant_id", "BYTES"), ("amount", "FP64"), ("price", "FP64"), ("term", "INT64"))


class InferenceSink(Protocol):
    """Where records go after the answers are given (``inference_log``'s writer):
    ``submit`` never blocks and never raises."""

    def submit(self, records: Iterable[InferenceRecord] | RecordBatch) -> None: ...

    def close(self, timeout: float = 30.0) -> None: ...


@dataclass(frozen=True)
class Scoring:
    """One batch scored by one predictor: what the answers, the log and the metrics are made of."""

    features: FeatureBatch
    prediction: Prediction
    policy: ScorePolicy
    decisions: Decisions
    thin: np.ndarray


@dataclass(frozen=True)
class _Part:
    """One side's share of a request: its applications, their rows in the request (None: every
    row, in order) and what its predictor answered."""

    role: Role
    batch: ApplicationBatch
    rows: np.ndarray | None
    scoring: Scoring


@dataclass(frozen=True)
class CreditAnswers:
    """What ``score`` returns and every transport renders."""

    answers: list[dict[str, Any]]
    batch: ApplicationBatch
    request_id: str
    model_version: str


@dataclass
class _Call:
    """A request inside KServe's hooks: its payload, its context, then its answers."""

    payload: Any
    context: RequestContext
    answers: CreditAnswers | None = None


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
        shadow_batch_rows: int = 256,
        shadow_batch_wait_seconds: float = 0.05,
        shadow_queue_rows: int = 4096,
        split: Split | None = None,
    ) -> None:
        super().__init__(name)
        self.features = features
        self.predictor = predictor
        self.max_batch = max_batch
        self.forward_headers = frozenset(h.lower() for h in forward_headers)
        self.role = Role(role)
        self.sink = sink
        self.hasher = hasher
        self.policies = PolicyBook()
        self.shadow = (
            Shadow(
                self,
                shadow,
                shadow_max_in_flight,
                batch_rows=shadow_batch_rows,
                wait_seconds=shadow_batch_wait_seconds,
                queue_rows=shadow_queue_rows,
            )
            if shadow is not None
            else None
        )
        if split is not None and shadow is not None:
            raise ValueError("split and shadow are two challenger modes: configure one")
        self.split = split
        # role -> (model name, version, alias) of the predictor that answered last (for /monitoring).
        self.last_served: dict[str, tuple[str, str, str]] = {}

    def load(self) -> bool:
        # Features and predictor are reached per request (and report 503 while down), so the
        # transformer is ready as soon as its registry view is resolved, which __init__ did,
        # unless the online store lost its materialized data (transformer.store_watch).
        self.ready = self.features.watch.ok
        return self.ready

    def start(self) -> None:
        """KServe starts the model with the server: watch the online store's marker from now on
        (not ready while the store is emptied or stale, ready again when it is re-materialized)."""
        super().start()
        watch = self.features.watch
        watch.on_change(self._store_changed)
        watch.start()
        self.ready = watch.ok

    def _store_changed(self, trusted: bool) -> None:
        self.ready = trusted

    def get_input_types(self) -> list[dict[str, Any]]:
        """``GET /v2/models/credit-scoring``: one tensor per application field (or one BYTES
        ``applications`` tensor of JSON objects instead)."""
        return [{"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in INPUT_TYPES]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in OUTPUT_TYPES]

    def validate(self, payload: Any) -> Any:
        # KServe's default looks into dict payloads; ours are decoded and validated in ``score``.
        return payload

    # ------------------------------------------------------------------ KServe hooks
    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> _Call:
        return _Call(payload, RequestContext.from_headers(headers, self.forward_headers))

    async def predict(
        self,
        payload: _Call,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> _Call:
        payload.answers = await self.score(payload.payload, payload.context)
        return payload

    async def postprocess(
        self,
        result: _Call,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> Any:
        """The answers in the form the request came in: REST bytes, KServe's response, a v1 dict."""
        answers = result.answers
        assert answers is not None
        if isinstance(result.payload, RawBody):
            if result.payload.protocol == "v1":
                return v1_body(answers.answers)
            return rest.encode_response(self._v2_response(answers))[0]
        if isinstance(result.payload, dict):
            return {"predictions": answers.answers}
        return to_kserve_response(self._v2_response(answers), result.payload)

    def _v2_response(self, answers: CreditAnswers) -> Any:
        return v2_response(
            self.name,
            answers.answers,
            response_id=answers.batch.request_id or answers.request_id,
            model_version=answers.model_version,
            request_id=answers.request_id,
        )

    # ------------------------------------------------------------------ the core
    async def score(self, payload: Any, context: RequestContext) -> CreditAnswers:
        """One request, start to finish (see the module docstring)."""
        status, count = 500, 0
        try:
            if not self.ready:
                self.features.watch.require()  # the store's own 503 and code when it is why
                raise ModelNotReady(f"model {self.name} is not ready")
            with metrics.stage("validate"):
                batch = decode(payload, self.max_batch)
            count = len(batch)
            with metrics.stage("features"):
                try:
                    features = await self.features.lookup(batch.applications)
                except FeatureStoreUnavailable:
                    metrics.DEPENDENCY_FAILURES.labels(dependency="feature_store").inc()
                    raise
            with metrics.stage("predict"):
                parts = await self.decide(batch, features, context)
            with metrics.stage("answer"):
                answers = self.merge(batch, parts, context)
            if self.shadow is not None:
                self.shadow.start(batch, features, context)
            status = 200
            # The response's version: the champion's when it decided any application (each
            # answer carries its own).
            version = parts[0].scoring.prediction.model_version
            return CreditAnswers(answers, batch, context.request_id, version)
        except CreditScoringError as exc:
            status = exc.status_code
            raise
        finally:
            # Request id, size, status and latency only: never applicant data.
            log.info(
                "request_id=%s status=%d applications=%d latency_ms=%.2f",
                context.request_id,
                status,
                count,
                (time.perf_counter() - context.started) * 1000,
            )

    async def decide(
        self, batch: ApplicationBatch, features: FeatureBatch, context: RequestContext
    ) -> list[_Part]:
        """Each side's predictor once, concurrently: the champion (this transformer's role) for
        every applicant, or in ``split`` mode the champion and the challenger for theirs."""
        if self.split is None:
            scoring = await self.call_predictor(
                self.predictor, self.policies, features, context, dependency="predictor"
            )
            return [_Part(self.role, batch, None, scoring)]
        split = self.split
        try:
            to_challenger = await split.challenger_rows([a.applicant_id for a in batch.applications])
        except PredictorUnavailable:
            metrics.DEPENDENCY_FAILURES.labels(dependency="challenger_predictor").inc()
            raise
        sides = Split.roles(to_challenger)
        whole = len(sides) == 1
        calls = []
        for role, rows in sides:
            client, policies, dependency = (
                (self.predictor, self.policies, "predictor")
                if role is Role.CHAMPION
                else (split.client, split.policies, "challenger_predictor")
            )
            part_features = features if whole else take_rows(features, rows)
            calls.append(self.call_predictor(client, policies, part_features, context, dependency=dependency))
        scorings = await asyncio.gather(*calls)
        parts = []
        for (role, rows), scoring in zip(sides, scorings, strict=True):
            if role is Role.CHALLENGER:
                split.answered(scoring.prediction.model_version)
            applications = batch.applications
            part_batch = batch if whole else replace(batch, applications=[applications[i] for i in rows])
            parts.append(_Part(role, part_batch, None if whole else rows, scoring))
        return parts

    async def call_predictor(
        self,
        client: PredictorClient,
        policies: PolicyBook,
        features: FeatureBatch,
        context: RequestContext,
        *,
        dependency: str | None = None,
    ) -> Scoring:
        """Exactly one call. The predictor explains the rows the last version's policy could refuse
        (or every row, when it scores with another version: ``credit_scoring.explain``), and the
        decisions use the policy of the version that actually scored. An unavailable predictor is
        counted as ``dependency`` when given (the shadow counts its own failures)."""
        thin = thin_file(features.has_profile)
        try:
            prediction = await client.infer(features.matrix, policies.explain_rows(thin), context.forward)
        except PredictorUnavailable:
            if dependency is not None:
                metrics.DEPENDENCY_FAILURES.labels(dependency=dependency).inc()
            raise
        policy = policies.record(prediction)
        return Scoring(features, prediction, policy, decide(prediction, policy, thin), thin)

    def merge(
        self, batch: ApplicationBatch, parts: list[_Part], context: RequestContext
    ) -> list[dict[str, Any]]:
        """Every part's answers in request order; then each part counted, logged (served) and
        remembered (only once all answers exist: a request that fails logs nothing)."""
        per_part = [self.answers(p.batch, p.scoring, context.request_id, p.role) for p in parts]
        merged: list[dict[str, Any]] = [] if parts[0].rows is None else [{}] * len(batch)
        for part, answers in zip(parts, per_part, strict=True):
            metrics.observe_answers(answers, part.role.value)
            self.log(self.records(part.batch, part.scoring, answers, context, part.role, rows=part.rows))
            self.remember(part.role, part.scoring.prediction)
            if part.rows is None:
                merged = answers
            else:
                for i, answer in zip(part.rows.tolist(), answers, strict=True):
                    merged[i] = answer
        return merged

    def answers(
        self, batch: ApplicationBatch, scoring: Scoring, request_id: str, role: Role
    ) -> list[dict[str, Any]]:
        return build_answers(
            batch.applications,
            scoring.prediction,
            scoring.decisions,
            scoring.policy,
            scoring.thin,
            request_id,
            missing=np.isnan(scoring.features.matrix),
            values=scoring.features.matrix,
            role=role.value,
        )

    def log(self, records: RecordBatch | None) -> None:
        """Hand records to the inference log (non-blocking; the writer batches off the request path)."""
        if records is not None and self.sink is not None:
            self.sink.submit(records)

    def records(
        self,
        batch: ApplicationBatch,
        scoring: Scoring,
        answers: list[dict[str, Any]],
        context: RequestContext,
        role: Role,
        *,
        rows: np.ndarray | None = None,
        served: bool = True,
    ) -> RecordBatch | None:
        """The inference-log records of these answers (None when there is no log).

        ``rows``: the request rows ``batch`` holds (a split request's part), logged under their
        index in the request; ``served``: whether these answers went to the client (False for a
        shadow's)."""
        if self.sink is None or self.hasher is None:
            return None
        prediction = scoring.prediction
        columns = scoring.features.columns
        return RecordBatch.from_scored(
            request_id=context.request_id,
            applicant_ids=[a.applicant_id for a in batch.applications],
            hasher=self.hasher,
            matrix=scoring.features.matrix,
            pd=prediction.probability,
            score=scoring.decisions.score,
            decisions=scoring.decisions.decisions,
            risk_bands=scoring.decisions.bands,
            reason_codes=[[r["code"] for r in a["reasons"]] for a in answers],
            thin_file=scoring.thin,
            model_name=prediction.model_name,
            model_version=prediction.model_version,
            model_alias=prediction.model_alias,
            role=role,
            latency_ms=(time.perf_counter() - context.started) * 1000.0,
            application_ids=[a.application_id for a in batch.applications],
            # Audit attributes from the profile, for fairness monitoring; never scored on.
            age_bands=age_bands(columns["age"]) if "age" in columns else None,
            marital=[marital_status(v) for v in columns["marital"]] if "marital" in columns else None,
            row_indexes=rows,
            served=served,
        )

    def remember(self, role: Role, prediction: Prediction) -> None:
        self.last_served[role.value] = (
            prediction.model_name,
            prediction.model_version,
            prediction.model_alias or "",
        )

    def stop(self) -> None:
        """KServe unloads the model on shutdown: write what the inference log still holds."""
        super().stop()
        self.features.watch.stop()
        if self.shadow is not None:
            self.shadow.cancel()
        if self.sink is not None:
            self.sink.close()

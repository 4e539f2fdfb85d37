"""One chunk of a portfolio, from raw rows to answers: the local engine's unit of work.

validate (``batch.validation``) -> point-in-time profile (``batch.features.ProfileIndex``) ->
model matrix (``batch.features.model_inputs``) -> PD, decision, reasons (``batch.scoring``) ->
Arrow answers (``batch.answers``). A worker process keeps its model and profile index between
chunks: they are built from the picklable ``ChunkContext`` on the first chunk it sees.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa

from batch.answers import answers_batch, decision_counts
from batch.features import ProfileIndex, ProfileSource, model_inputs
from batch.scoring import BatchModel, ModelSpec
from batch.validation import validate

__all__ = ["ChunkContext", "ChunkResult", "score_chunk", "warm_up"]


@dataclass(frozen=True)
class ChunkContext:
    """Everything a worker needs, as plain data."""

    spec: ModelSpec
    source: ProfileSource
    as_of: datetime | None
    csv: bool
    request_id: str


@dataclass
class ChunkResult:
    answers: pa.RecordBatch
    rejects: pa.RecordBatch
    decisions: Counter[str] = field(default_factory=Counter)
    thin_files: int = 0

    @property
    def rows(self) -> int:
        return self.answers.num_rows + self.rejects.num_rows


class _State:
    """This process's model and profile index, for the context they were built from."""

    context: ChunkContext | None = None
    model: BatchModel | None = None
    profile: ProfileIndex | None = None


def _state(context: ChunkContext) -> tuple[BatchModel, ProfileIndex]:
    if _State.context is not context and _State.context != context:
        if _State.model is not None:
            _State.model.close()
        _State.model = BatchModel(context.spec)
        _State.profile = ProfileIndex.load(context.source)
        _State.context = context
    assert _State.model is not None
    assert _State.profile is not None
    return _State.model, _State.profile


def warm_up() -> None:
    """Import the heavy modules in a fresh worker while the driver loads the model."""
    import scipy.sparse  # noqa: F401
    import xgboost  # noqa: F401

    import predictor.scoring  # noqa: F401
    import transformer.answers  # noqa: F401


def score_chunk(context: ChunkContext, batch: pa.RecordBatch, first_row: int) -> ChunkResult:
    model, profile = _state(context)
    rows = np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
    checked = validate(batch, rows, context.as_of, context.csv)
    valid = checked.valid
    at = profile.lookup(valid.applicant_id, valid.at_ns)
    inputs = model_inputs(profile.values(at), valid.request, at >= 0)
    scores = model.score(inputs.matrix, inputs.thin_file)
    answers = answers_batch(
        valid,
        inputs.matrix,
        inputs.thin_file,
        scores,
        context.spec,
        model.policy.max_reasons,
        context.request_id,
    )
    return ChunkResult(answers, checked.rejects, decision_counts(scores), int(inputs.thin_file.sum()))

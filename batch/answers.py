"""The batch answers as Arrow columns: the online answer's fields, built a block at a time.

One row per scored application, in input order: the fields of the online answer
(``applicant_id``, ``pd``, ``score``, ``risk_band``, ``decision``, ``reasons``, ``thin_file``,
``model``, ``request_id``: here the run's id) plus ``model_version``, ``application_id`` (when
given) and ``as_of`` (the point in time of the features). The reasons are ranked by
``credit_scoring.reasons.rank_reasons``, the rules ``transformer.answers`` ranks with, and turned
into a ``list<struct<code, text, feature, contribution>>`` column without a Python object per
reason; contributions are rounded as in the online answer (``round_contributions``).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from batch.scoring import BlockScores, ModelSpec
from batch.validation import ValidRows
from credit_scoring.features import feature_names
from credit_scoring.reasons import INSUFFICIENT_INFORMATION, REASON_CODES, rank_reasons, round_contributions

__all__ = ["ANSWER_SCHEMA", "REASON_TYPE", "answers_batch", "decision_counts"]

_NAMES = feature_names()
REASON_TYPE = pa.struct(
    [("code", pa.string()), ("text", pa.string()), ("feature", pa.string()), ("contribution", pa.float64())]
)
# model.role as online answers carry it; null when the run's version is neither champion nor challenger.
MODEL_TYPE = pa.struct(
    [("name", pa.string()), ("version", pa.string()), ("alias", pa.string()), ("role", pa.string())]
)
ANSWER_SCHEMA = pa.schema(
    [
        pa.field("application_id", pa.string()),
        pa.field("applicant_id", pa.string(), nullable=False),
        pa.field("as_of", pa.timestamp("us", "UTC"), nullable=False),
        pa.field("pd", pa.float64(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("risk_band", pa.string(), nullable=False),
        pa.field("decision", pa.string(), nullable=False),
        pa.field("reasons", pa.list_(REASON_TYPE), nullable=False),
        pa.field("thin_file", pa.bool_(), nullable=False),
        pa.field("model", MODEL_TYPE, nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
    ]
)
# Candidate index -> code: the model features in order, then R00 (the pooled reason). Texts come
# from the ranking (the applicant's category, what is missing).
_CODES = pa.array([REASON_CODES[n][0] for n in _NAMES] + [INSUFFICIENT_INFORMATION[0]], pa.string())


def _reasons(scores: BlockScores, matrix: np.ndarray, limit: int) -> pa.Array:
    n = len(scores.adverse)
    rows = np.flatnonzero(scores.adverse)
    counts = np.zeros(n, dtype=np.int64)
    if not rows.size:
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], REASON_TYPE))
    block = matrix[rows]
    # The matrix too: reasons for housing and employment name the applicant's own category.
    ranking = rank_reasons(scores.contributions, _NAMES, limit, np.isnan(block), block)
    counts[rows] = ranking.counts
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    cited = np.arange(ranking.order.shape[1])[None, :] < ranking.counts[:, None]
    order = ranking.order[cited]  # row-major: rows in order, each row's reasons best first
    values = ranking.values[cited]
    width = len(_NAMES)
    # The pooled reason's feature text names the pooled features: one text per distinct pattern.
    features = [*_NAMES]
    feature_index = order.copy()
    pooled = order == width
    if pooled.any():
        # Ranking row of each pooled reason (row-major, like ``order``); at most one per row.
        owners = np.nonzero((ranking.order == width) & cited)[0]
        _, first, inverse = np.unique(
            np.packbits(ranking.pooled[owners], axis=1), axis=0, return_index=True, return_inverse=True
        )
        features += [ranking.pooled_names(int(owners[k])) for k in first]
        feature_index[pooled] = width + inverse.reshape(-1)
    index = pa.array(order.astype(np.int32))
    reason = pa.StructArray.from_arrays(
        [
            _CODES.take(index),
            pa.array(ranking.cited_texts(), pa.string()),
            pa.array(features, pa.string()).take(pa.array(feature_index.astype(np.int32))),
            pa.array(round_contributions(values), pa.float64()),
        ],
        fields=list(REASON_TYPE),
    )
    return pa.ListArray.from_arrays(pa.array(offsets), reason)


def answers_batch(
    valid: ValidRows,
    matrix: np.ndarray,
    thin_file: np.ndarray,
    scores: BlockScores,
    spec: ModelSpec,
    max_reasons: int,
    request_id: str,
) -> pa.RecordBatch:
    """One answer per valid row, in row order."""
    n = len(thin_file)
    model = pa.scalar(
        {"name": spec.name, "version": spec.version, "alias": spec.alias, "role": spec.role}, MODEL_TYPE
    )
    columns = [
        valid.application_id,
        valid.applicant_id,
        pa.array(valid.at_ns // 1000, pa.int64()).cast(pa.timestamp("us", "UTC")),
        pa.array(scores.probability, pa.float64()),
        pa.array(scores.score, pa.float64()),
        pa.array(scores.bands, pa.string()),
        # Decision is a StrEnum: its members are the strings (no per-row ``.value``).
        pa.array(scores.decisions, pa.string()),
        _reasons(scores, matrix, max_reasons),
        pa.array(thin_file, pa.bool_()),
        pa.repeat(model, n),
        pa.repeat(pa.scalar(spec.version, pa.string()), n),
        pa.repeat(pa.scalar(request_id, pa.string()), n),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=ANSWER_SCHEMA)


def decision_counts(scores: BlockScores) -> Counter[str]:
    # Counted by member (C-level hashing), then named: no per-row attribute access.
    return Counter({decision.value: n for decision, n in Counter(scores.decisions).items()})

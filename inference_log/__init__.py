"""The durable inference log: one record per scored application, written off the request path.

The transformer writes it, the drift job (``monitoring.drift``) reads it. The same database
holds the drift job's results (``drift_runs``) and the ``/monitoring`` summary reads both
(``summary``): SQLAlchemy only, so the transformer image can ship all of it.

API (for the transformer)::

    settings = InferenceLogSettings()                      # CREDIT_INFERENCE_LOG_* env / secrets
    writer = InferenceLogWriter.from_settings(settings, registry=prometheus_client.REGISTRY)
    writer.start()                                         # background thread; never raises
    hasher = ApplicantHasher.from_settings(settings)

    records = records_from_batch(
        request_id=request_id, applicant_ids=ids, hasher=hasher,
        matrix=matrix,                    # float32 [N, len(MODEL_FEATURES)], feature_names() order
        pd=pd, score=score, decisions=decisions, risk_bands=bands,
        reason_codes=[[r.code for r in reasons] for reasons in per_row_reasons],
        thin_file=thin, model_name="credit-risk", model_version="3", model_alias="champion",
        role=Role.CHAMPION, latency_ms=elapsed_ms,
    )
    writer.submit(records)        # sync, non-blocking, never raises: safe inside async handlers
    # or, cheaper per request: RecordBatch.from_scored(<same arguments>): the same records as
    # columns; rows and JSON are then built in the writer thread (or, for what overflows a full
    # queue, in submit, which appends it to the spill file)
    ...
    writer.close()                # or ``await writer.aclose()`` in a shutdown hook

``submit`` puts records on a bounded in-memory queue; a background thread inserts them in batches
(SQLite by default, PostgreSQL in production; SQLAlchemy engine and schema, each driver's bulk
path for the rows: multi-row ``INSERT`` statements on SQLite, ``COPY`` on PostgreSQL). When the queue
is full the records are appended to a local spill file (JSON lines) instead, so the request path
never waits for the database and memory stays bounded. When the database is unreachable, batches
go to the spill file too and are replayed once it answers again. Inserts are idempotent on
``(request_id, row_index, role)`` (``role`` because a shadow challenger scores the same row), so a
replay interrupted half-way and repeated never duplicates a record: exactly once in the table.
``close()`` (also run at interpreter exit, e.g. after SIGTERM stops the server) drains the queue
into the database, or into the spill file when the database is down.

Feature values are the ones the booster saw: categoricals as level codes, missing as ``None``.
The applicant id is never stored: only a keyed hash (HMAC-SHA256 with a secret key).

Metrics: ``credit_inference_log_queue_depth`` and
``credit_inference_log_records_total{outcome=written|spilled|replayed|dropped}``.
"""

from __future__ import annotations

from inference_log.records import (
    ApplicantHasher,
    InferenceRecord,
    RecordBatch,
    Role,
    records_from_batch,
)
from inference_log.settings import InferenceLogSettings
from inference_log.store import LOG_TABLE, create_log_engine, create_schema, iter_rows
from inference_log.writer import InferenceLogWriter, WriterStats

__all__ = [
    "LOG_TABLE",
    "ApplicantHasher",
    "InferenceLogSettings",
    "InferenceLogWriter",
    "InferenceRecord",
    "RecordBatch",
    "Role",
    "WriterStats",
    "create_log_engine",
    "create_schema",
    "iter_rows",
    "records_from_batch",
]

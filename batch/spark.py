"""The Spark engine: the same validation, model inputs and scoring, distributed by PySpark.

Spark reads the portfolio and the profile view's offline source, joins them point in time in
Spark SQL (the profile version with the latest ``event_timestamp <= T``, ties to the latest
``created_timestamp``, none older than ``T - ttl``: Feast's rule, as in ``batch.features``), and
runs the shared Python code on Arrow batches (``mapInArrow``): ``batch.validation`` before the
join, ``batch.features.model_inputs`` + ``batch.scoring`` + ``batch.answers`` after it. Each
Python worker builds its model once from the driver's ``ModelSpec``.

Output: the answers as a Parquet folder (Spark's part files, in no particular order: join on
``application_id``), the rejects as one Parquet file, both committed atomically
(``batch.output``). Parquet inputs give rejected rows their row number (``_metadata.row_index``);
CSV inputs cannot (Spark splits them), so their rejects carry a null ``row``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from batch.answers import ANSWER_SCHEMA, answers_batch
from batch.features import ProfileSource, level_codes, model_inputs
from batch.inputs import APPLICATION_ID, TIMESTAMP, PortfolioFile
from batch.output import AtomicDirectory, all_or_nothing, temporary_path
from batch.scoring import BatchModel, ModelSpec
from batch.settings import BatchSettings
from batch.validation import REJECT_SCHEMA, ValidRows, validate
from credit_scoring.features import CATEGORICAL_LEVELS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from batch.job import Summary

__all__ = ["run_spark", "spark_session"]

_ROW, _OK, _AT, _UID = "__row", "__ok", "__at_ns", "__uid"
_P = "p__"  # prefix of the profile's columns after the join
_VALIDATED = pa.schema(
    [
        pa.field(_OK, pa.bool_()),
        pa.field(APPLICATION_ID, pa.string()),
        pa.field("applicant_id", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("price", pa.float64()),
        pa.field("term", pa.float64()),
        pa.field(_AT, pa.int64()),
        pa.field("reject", pa.struct(list(REJECT_SCHEMA))),
    ]
)


def spark_session(settings: BatchSettings) -> SparkSession:
    """The session: spark-submit's (master given there), else ``settings.spark_master`` or local[*]."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(f"credit-batch-score-{settings.portfolio}")
    if settings.spark_master:
        builder = builder.master(settings.spark_master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # not launched by spark-submit
        builder = builder.master("local[*]")
    # Python workers run this interpreter (PySpark reads the variable when the context starts).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    # Nanosecond Parquet timestamps (pandas writes them) as int64 ns: exact, like the local engine.
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
    return spark


def _ns(df: DataFrame, column: str) -> Any:
    """A timestamp column as int64 ns since the epoch (nanosecond Parquet arrives as int64 ns already)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    if isinstance(df.schema[column].dataType, LongType):
        return F.col(column)
    return F.unix_micros(F.col(column).cast("timestamp")) * F.lit(1000)


def _read_portfolio(spark: SparkSession, portfolio: PortfolioFile) -> DataFrame:
    from pyspark.sql import functions as F

    if portfolio.format == "parquet":
        df = spark.read.parquet(str(portfolio.path))
        return df.select(*portfolio.columns, F.col("_metadata.row_index").alias(_ROW))
    df = spark.read.options(header=True, mode="PERMISSIVE").csv(str(portfolio.path))
    return df.select(*portfolio.columns, F.lit(-1).cast("long").alias(_ROW))


def _validator(as_of: Any, csv: bool, ns_long: bool) -> Any:
    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if ns_long:  # int64 ns from nanosAsLong: back to the timestamp it was
                i = batch.schema.get_field_index(TIMESTAMP)
                batch = batch.set_column(i, TIMESTAMP, batch.column(i).cast(pa.timestamp("ns", "UTC")))
            rows = batch.column(_ROW).to_numpy(zero_copy_only=False).astype(np.int64)
            checked = validate(batch.drop_columns([_ROW]), rows, as_of, csv)
            yield _validated(checked.valid, checked.rejects)

    return check


def _validated(valid: ValidRows, rejects: pa.RecordBatch) -> pa.RecordBatch:
    n, r = len(valid.row), rejects.num_rows
    reject_type = _VALIDATED.field("reject").type
    columns = [
        pa.array(np.r_[np.ones(n, bool), np.zeros(r, bool)]),
        pa.concat_arrays([valid.application_id, pa.nulls(r, pa.string())]),
        pa.concat_arrays([valid.applicant_id, pa.nulls(r, pa.string())]),
        *(pa.array(np.r_[valid.request[k], np.full(r, np.nan)]) for k in ("amount", "price", "term")),
        pa.array(np.r_[valid.at_ns, np.zeros(r, np.int64)]),
        pa.concat_arrays(
            [
                pa.nulls(n, reject_type),
                pa.StructArray.from_arrays(rejects.columns, fields=list(REJECT_SCHEMA)),
            ]
        ),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=_VALIDATED)


_MODELS: dict[tuple[str, str], BatchModel] = {}


def _scorer(spec: ModelSpec, source: ProfileSource, request_id: str) -> Any:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        key = (spec.name, spec.version)
        model = _MODELS.get(key)
        if model is None:  # once per Python worker (Spark reuses them)
            model = _MODELS[key] = BatchModel(spec)
        for batch in batches:
            if not batch.num_rows:
                continue
            valid = ValidRows(
                row=np.zeros(batch.num_rows, np.int64),
                application_id=batch.column(APPLICATION_ID),
                applicant_id=batch.column("applicant_id"),
                request={
                    k: batch.column(k).to_numpy(zero_copy_only=False) for k in ("amount", "price", "term")
                },
                at_ns=batch.column(_AT).to_numpy(zero_copy_only=False),
            )
            found = batch.column(f"{_P}ts").is_valid().to_numpy(zero_copy_only=False)
            profile = {}
            for name in source.features:
                column = pa.chunked_array([batch.column(_P + name)])
                if name in CATEGORICAL_LEVELS:
                    profile[name] = level_codes(name, column)
                else:
                    profile[name] = column.cast(pa.float64()).to_numpy()
            inputs = model_inputs(profile, valid.request, found)
            scores = model.score(inputs.matrix, inputs.thin_file)
            yield answers_batch(
                valid, inputs.matrix, inputs.thin_file, scores, spec, model.policy.max_reasons, request_id
            )

    return score


def _point_in_time(spark: SparkSession, valid: DataFrame, source: ProfileSource) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    raw = spark.read.parquet(source.path)
    created = _ns(raw, source.created_timestamp_column) if source.created_timestamp_column else F.lit(0)
    profile = raw.select(
        F.col(source.join_key).cast("string").alias(f"{_P}key"),
        _ns(raw, source.timestamp_field).alias(f"{_P}ts"),
        created.alias(f"{_P}created"),
        *(F.col(name).alias(_P + name) for name in source.features),
    )
    keyed = valid.withColumn(_UID, F.monotonically_increasing_id())
    condition = (keyed["applicant_id"] == profile[f"{_P}key"]) & (profile[f"{_P}ts"] <= keyed[_AT])
    if source.ttl_seconds:
        condition &= profile[f"{_P}ts"] >= keyed[_AT] - F.lit(round(source.ttl_seconds * 1_000_000_000))
    joined = keyed.join(profile, condition, "left")
    latest = Window.partitionBy(_UID).orderBy(
        F.col(f"{_P}ts").desc_nulls_last(), F.col(f"{_P}created").desc()
    )
    return joined.withColumn("__rank", F.row_number().over(latest)).where(F.col("__rank") == 1)


def run_spark(
    settings: BatchSettings, portfolio: PortfolioFile, spec: ModelSpec, source: ProfileSource, started: float
) -> Summary:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import LongType

    from batch.job import Summary

    spark = spark_session(settings)
    scoring = time.monotonic()
    rejects_path = settings.resolved_rejects
    answers_dir = AtomicDirectory(settings.output, settings.run_id)
    rejects_dir = AtomicDirectory(rejects_path, settings.run_id)  # its part file becomes the rejects file
    with all_or_nothing(answers_dir, rejects_dir):
        raw = _read_portfolio(spark, portfolio)
        ns_long = TIMESTAMP in raw.columns and isinstance(raw.schema[TIMESTAMP].dataType, LongType)
        validated = raw.mapInArrow(
            _validator(settings.as_of, portfolio.format == "csv", ns_long), from_arrow_schema(_VALIDATED)
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            rejected = validated.where(~F.col(_OK)).select("reject.*")
            rejected.coalesce(1).write.parquet(str(rejects_dir.temporary))
            valid = validated.where(F.col(_OK)).drop(_OK, "reject")
            joined = _point_in_time(spark, valid, source)
            answers = joined.mapInArrow(
                _scorer(spec, source, settings.run_id), from_arrow_schema(ANSWER_SCHEMA)
            )
            answers.write.parquet(str(answers_dir.temporary))
        finally:
            validated.unpersist()
        written = spark.read.parquet(str(answers_dir.temporary))
        decisions = Counter(
            {r["decision"]: int(r["count"]) for r in written.groupBy("decision").count().collect()}
        )
        thin_files = written.where(F.col("thin_file")).count()
        n_rejected = spark.read.parquet(str(rejects_dir.temporary)).count()
        _commit_single_file(rejects_dir.temporary, rejects_path, settings.run_id)
        answers_dir.commit()
    scored = sum(decisions.values())
    return Summary(
        engine="spark",
        model=f"{spec.name}@{spec.alias}" if spec.alias else spec.name,
        model_version=spec.version,
        output=settings.output,
        rejects=rejects_path,
        rows=scored + n_rejected,
        scored=scored,
        rejected=n_rejected,
        thin_files=thin_files,
        seconds=time.monotonic() - started,
        decisions=decisions,
        workers=spark.sparkContext.defaultParallelism,
        scoring_seconds=time.monotonic() - scoring,
    )


def _commit_single_file(folder: Path, final: Path, run_id: str) -> None:
    """Spark's one part file of a coalesced write, renamed into place as a plain file."""
    (part,) = sorted(folder.glob("part-*.parquet"))
    staged = temporary_path(final, f"{run_id}-file")
    os.replace(part, staged)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staged, final)

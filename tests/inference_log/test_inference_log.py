"""The inference log against real SQLite and real PostgreSQL: round trip, idempotence, spill,
outage with replay, graceful shutdown under SIGTERM."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import psycopg
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from credit_scoring.features import feature_names
from inference_log import (
    LOG_TABLE,
    ApplicantHasher,
    InferenceLogSettings,
    InferenceLogWriter,
    InferenceRecord,
    RecordBatch,
    Role,
    iter_rows,
    records_from_batch,
)
from inference_log.store import ADDED_COLUMNS, COLUMNS, SQLITE_ROWS_PER_STATEMENT, LogStore
from inference_log.writer import _values
from tests.inference_log.records import scored_batch
from tests.monitoring.conftest import restart_postgres
from tests.servers import eventually

MakeRecords = Callable[..., list[InferenceRecord]]


def count_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(LOG_TABLE)).scalar_one())
    finally:
        engine.dispose()


def sample(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value("credit_inference_log_records_total", {"outcome": outcome})
    return value or 0.0


# Fixed keys (a random one would give every pytest-xdist worker a different test id): short, at and
# past SHA-256's 64-byte block, and 200 arbitrary bytes.
@pytest.mark.parametrize(
    "key",
    [b"k" * 16, b"0123456789abcdef" * 4, b"x" * 64, b"y" * 65, bytes(range(200))],
    ids=["16-bytes", "64-hex-digits", "64-bytes", "65-bytes", "200-binary-bytes"],
)
def test_applicant_hashes_are_hmac_sha256_of_the_id(key: bytes):
    # The stored hashes must stay what ``hmac.new`` gave (erasure finds old rows by them).
    hasher = ApplicantHasher(key)
    for applicant_id in ("A1", "", "probe-applicant-0123456789", "Zoë-ß", "a" * 300):
        assert hasher(applicant_id) == hmac.new(key, applicant_id.encode(), hashlib.sha256).hexdigest()


def test_round_trip_keeps_every_field(db_url: str, tmp_path: Path, make_records: MakeRecords) -> None:
    records = make_records(50) + make_records(50, role=Role.CHALLENGER, model_version="2")
    registry = CollectorRegistry()
    with InferenceLogWriter(db_url, tmp_path / "spill", flush_interval=0.05, registry=registry) as writer:
        writer.submit(records)
        assert writer.flush(30)
        stored = sorted(iter_rows(writer.engine), key=lambda r: (r.request_id, r.row_index))
    expected = sorted(records, key=lambda r: (r.request_id, r.row_index))
    assert len(stored) == 100
    for got, want in zip(stored, expected, strict=True):
        assert got.logged_at == want.logged_at  # timezone-aware UTC on both databases
        assert got.features.keys() == want.features.keys()
        for name in feature_names():
            a, b = got.features[name], want.features[name]
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12)  # type: ignore[arg-type]
        assert (got.pd, got.score, got.decision, got.reason_codes, got.role, got.model_version) == (
            want.pd,
            want.score,
            want.decision,
            want.reason_codes,
            want.role,
            want.model_version,
        )
    assert sample(registry, "written") == 100
    assert sample(registry, "spilled") == 0


def test_missing_features_are_stored_as_null(tmp_path: Path, hasher: ApplicantHasher) -> None:
    matrix = np.full((1, len(feature_names())), np.nan, dtype=np.float32)  # a thin-file row
    [record] = records_from_batch(
        request_id="thin",
        applicant_ids=["nobody"],
        hasher=hasher,
        matrix=matrix,
        pd=[0.2],
        score=[610.0],
        decisions=["refer"],
        risk_bands=["C"],
        reason_codes=[[]],
        thin_file=[True],
        model_name="credit-risk",
        model_version="1",
        model_alias="champion",
        role=Role.CHAMPION,
        latency_ms=2.0,
    )
    assert set(record.features.values()) == {None}
    assert record.applicant_hash != "nobody"
    assert len(record.applicant_hash) == 64
    with InferenceLogWriter(f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "spill") as writer:
        writer.submit([record])
        assert writer.flush(10)
        [stored] = list(iter_rows(writer.engine))
    assert stored.thin_file is True
    assert set(stored.features.values()) == {None}


def test_batch_shape_is_checked(hasher: ApplicantHasher) -> None:
    with pytest.raises(ValueError, match="shape"):
        records_from_batch(
            request_id="r",
            applicant_ids=["a", "b"],
            hasher=hasher,
            matrix=np.zeros((1, 3)),
            pd=[0.1],
            score=[600.0],
            decisions=["approve"],
            risk_bands=None,
            reason_codes=[[]],
            thin_file=[False],
            model_name="m",
            model_version="1",
            model_alias=None,
            role=Role.CHAMPION,
            latency_ms=1.0,
        )


def column_batch(hasher: ApplicantHasher, n: int, seed: int = 0) -> RecordBatch:
    """What the transformer submits: one scored request as columns, some rows thin-file, with the
    lender's application ids and the audit attributes."""
    return scored_batch(
        hasher, n, seed=seed, model_version="3", request_id=f"cols-{seed}", thin_share=0.1, audit=True
    )


def test_column_batch_is_the_same_records(hasher: ApplicantHasher) -> None:
    batch = column_batch(hasher, 60)
    records = batch.records()
    bind = str  # any bind function: both forms must apply it the same way
    assert batch.values(bind) == [r.values(bind) for r in records]
    assert batch.to_rows() == [r.to_row() for r in records]
    part = batch[10:25]
    assert [r.row_index for r in part.records()] == list(range(10, 25))
    assert part.records() == records[10:25]
    with pytest.raises(ValueError, match="contiguous"):
        batch[::2]


def test_many_batches_give_the_rows_of_each_in_one_pass(hasher: ApplicantHasher) -> None:
    """The writer's columnar pass over many queued chunks (``_values``): the same rows, in the same
    order, as each chunk's own, for batches of one and of many rows, with and without the optional
    columns, split parts (row indexes), shadow rows and lists of records between them."""
    bind = str
    plain = scored_batch(hasher, 3, seed=1, request_id="plain")  # no audit columns, no bands
    plain = dataclasses.replace(plain, risk_band=None)
    part = dataclasses.replace(
        column_batch(hasher, 4, seed=2), row_indexes=np.array([5, 1, 7, 2]), role=Role.CHALLENGER
    )
    shadow = dataclasses.replace(column_batch(hasher, 1, seed=3), served=False, latency_ms=9.5)
    block = dataclasses.replace(column_batch(hasher, 3, seed=6), served=False).of_requests(
        [("shadowed-1", 1, 4.0), ("shadowed-2", 2, 6.5)]
    )
    singles = [column_batch(hasher, 1, seed=s) for s in range(10, 15)]
    listed = column_batch(hasher, 2, seed=4).records()
    large = column_batch(hasher, 30, seed=5)
    chunks = [plain, part, *singles[:2], listed, shadow, block, *singles[2:], large]
    expected = [
        row
        for chunk in chunks
        for row in (chunk.values(bind) if isinstance(chunk, RecordBatch) else [r.values(bind) for r in chunk])
    ]
    assert _values(chunks, bind) == expected
    assert expected == [
        r.values(bind)
        for chunk in chunks
        for r in (chunk.records() if isinstance(chunk, RecordBatch) else chunk)
    ]


def test_a_block_of_requests_is_each_requests_own_records(hasher: ApplicantHasher) -> None:
    """A shadow's block (rows of three requests scored in one call) goes to the log as one batch:
    each row under its request's id and latency, numbered from 0 within its request, exactly as
    one batch per request would be; slices and table rows keep that."""
    block = column_batch(hasher, 6, seed=7)
    requests = [("req-1", 2, 3.25), ("req-2", 3, 12.5), ("req-3", 1, 0.75)]
    logged = block.of_requests(requests)
    replace = dataclasses.replace
    taken = block.records()
    own = []
    start = 0
    for request_id, n, latency_ms in requests:
        own += [
            replace(r, request_id=request_id, row_index=i, latency_ms=latency_ms)
            for i, r in enumerate(taken[start : start + n])
        ]
        start += n
    assert logged.records() == own
    assert logged.values(str) == [r.values(str) for r in own]
    assert logged.to_rows() == [r.to_row() for r in own]
    assert logged[2:5].records() == own[2:5]
    with pytest.raises(ValueError, match="5 rows"):
        block.of_requests(requests[:2])


def test_column_batch_features_json_is_orjsons_for_every_kind_of_number(hasher: ApplicantHasher) -> None:
    # values() places orjson's text of each number under its key without building a dict.
    special = [0.0, -0.0, 12.0, 1e-7, 1.5e300, -2.5e-300, 0.1, 1 / 3, np.inf, -np.inf, np.nan, 123456789.0]
    batch = column_batch(hasher, len(special))
    width = len(feature_names())
    matrix = np.array([[special[(i + j) % len(special)] for j in range(width)] for i in range(len(special))])
    batch = dataclasses.replace(batch, features=matrix)
    for row, record in zip(batch.values(str), batch.records(), strict=True):
        assert row[COLUMNS.index("features")] == orjson.dumps(dict(record.features)).decode()


def test_column_batches_round_trip_through_slices_and_spill(
    db_url: str, tmp_path: Path, hasher: ApplicantHasher
) -> None:
    """Batches larger than the writer's batch size, and a queue smaller than one batch (its
    tail overflows to the spill file): the stored rows are exactly the records, whichever path
    (insert, slice, spill, replay) they took."""
    batches = [column_batch(hasher, 300, seed=s) for s in range(3)]
    registry = CollectorRegistry()
    with InferenceLogWriter(
        db_url,
        tmp_path / "spill",
        batch_size=128,
        max_queue=200,
        flush_interval=0.05,
        retry_interval=0.2,
        registry=registry,
    ) as writer:
        for batch in batches:
            writer.submit(batch)
        eventually(lambda: writer.flush(0.1) and not writer.spill_pending(), 60, "written and replayed")
        stored = {(r.request_id, r.row_index): r for r in iter_rows(writer.engine)}
    assert sample(registry, "spilled") > 0  # the overflow path really ran
    expected = [r for b in batches for r in b.records()]
    assert len(stored) == len(expected) == 900
    for want in expected:
        got = stored[(want.request_id, want.row_index)]
        for name, value in want.features.items():
            stored_value = got.features[name]
            assert (value is None and stored_value is None) or math.isclose(
                stored_value, value, rel_tol=1e-12
            )  # type: ignore[arg-type]
        assert (got.applicant_hash, got.decision, got.risk_band, got.reason_codes, got.thin_file) == (
            want.applicant_hash,
            want.decision,
            want.risk_band,
            want.reason_codes,
            want.thin_file,
        )
        assert (got.application_id, got.age_band, got.marital) == (
            want.application_id,
            want.age_band,
            want.marital,
        )
        assert math.isclose(got.pd, want.pd, rel_tol=1e-12)
        assert got.logged_at == want.logged_at


def test_hash_is_keyed_and_stable(tmp_path: Path) -> None:
    a, b = ApplicantHasher(b"k" * 16), ApplicantHasher(b"j" * 16)
    assert a("app-1") == a("app-1") != b("app-1")
    with pytest.raises(ValueError, match="16 bytes"):
        ApplicantHasher(b"short")
    settings = InferenceLogSettings(CREDIT_HOME=tmp_path)  # no key configured: local key file
    first, second = ApplicantHasher.from_settings(settings), ApplicantHasher.from_settings(settings)
    assert first("x") == second("x")
    assert (tmp_path / "inference-log-hash.key").stat().st_mode & 0o777 == 0o600


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDIT_HOME", str(tmp_path))
    monkeypatch.setenv("CREDIT_INFERENCE_LOG_HASH_KEY", "a-secret-key-from-a-secret")
    monkeypatch.setenv("CREDIT_INFERENCE_LOG_BATCH_SIZE", "7")
    settings = InferenceLogSettings()
    assert settings.batch_size == 7
    assert settings.database_url() == f"sqlite:///{tmp_path.resolve() / 'inference_log.db'}"
    assert ApplicantHasher.from_settings(settings)("x") == ApplicantHasher(b"a-secret-key-from-a-secret")("x")


def test_resubmitted_records_are_stored_once(db_url: str, tmp_path: Path, make_records: MakeRecords) -> None:
    records = make_records(30)
    with InferenceLogWriter(db_url, tmp_path / "spill", flush_interval=0.05) as writer:
        writer.submit(records)
        writer.submit(records)  # e.g. a replay that was interrupted and repeated
        assert writer.flush(30)
    assert count_rows(db_url) == 30


def test_sqlite_rows_go_in_multi_row_statements(tmp_path: Path, hasher: ApplicantHasher) -> None:
    """The driver gives up and retakes the GIL around every statement it executes: executemany
    did so once per row, against the server's event loop. Rows go in multi-row statements of
    ``SQLITE_ROWS_PER_STATEMENT`` (the last one shorter); a row already stored is still skipped."""
    store = LogStore(sa.create_engine(f"sqlite:///{tmp_path / 'log.db'}"))
    store.create_table()
    executed: list[tuple[int, bool]] = []

    def seen(
        conn: object, cursor: object, statement: str, params: object, context: object, executemany: bool
    ) -> None:
        executed.append((statement.count("), ("), executemany))

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    per = SQLITE_ROWS_PER_STATEMENT
    rows = column_batch(hasher, 2 * per + 3, seed=1).values(store.bind_time)
    store.insert(rows[:5])
    executed.clear()
    store.insert(rows)  # five of them are stored already
    assert executed == [(per - 1, False), (per - 1, False), (2, False)]  # "), (" joins the rows
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(LOG_TABLE.c.request_id, LOG_TABLE.c.row_index)).all()
    assert sorted(stored) == sorted((row[0], row[1]) for row in rows)


def test_a_backlog_is_written_in_transactions_of_the_default_batch_size(
    tmp_path: Path, hasher: ApplicantHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12,000 queued records go to SQLite in 3 transactions of at most 5,000 (the default): on the
    SQLite log with its applicant-hash index a transaction of 500 cost about 1.6 times the CPU
    per record (docs/benchmarks.md), and a batch load outran the writer and spilled."""
    assert InferenceLogSettings().batch_size == 5_000
    url = f"sqlite:///{tmp_path / 'log.db'}"
    sizes: list[int] = []
    insert = LogStore.insert

    def counted(store: LogStore, rows: list[tuple[object, ...]]) -> None:
        sizes.append(len(rows))
        insert(store, rows)

    monkeypatch.setattr(LogStore, "insert", counted)
    writer = InferenceLogWriter(url, tmp_path / "spill", flush_interval=0.05)
    n = 12_000
    names = feature_names()
    writer.submit(  # queued before the thread starts: one backlog
        RecordBatch.from_scored(
            request_id="backlog",
            applicant_ids=[f"a{i}" for i in range(n)],
            hasher=hasher,
            matrix=np.ones((n, len(names))),
            pd=np.full(n, 0.1),
            score=np.full(n, 650.0),
            decisions=["approve"] * n,
            risk_bands=None,
            reason_codes=[[]] * n,
            thin_file=np.zeros(n, dtype=bool),
            model_name="credit-risk",
            model_version="1",
            model_alias="champion",
            role=Role.CHAMPION,
            latency_ms=1.0,
        )
    )
    writer.start()
    assert writer.flush(60)
    writer.close()
    assert count_rows(url) == n
    assert sizes == [5_000, 5_000, 2_000]
    assert writer.stats.spilled == 0


def test_full_queue_spills_instead_of_blocking(tmp_path: Path, make_records: MakeRecords) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    registry = CollectorRegistry()
    writer = InferenceLogWriter(
        url, tmp_path / "spill", max_queue=20, flush_interval=0.05, retry_interval=0.2, registry=registry
    )
    records = make_records(500)
    started = time.perf_counter()
    writer.submit(records)  # the thread is not running yet: only 20 fit in memory
    assert time.perf_counter() - started < 1.0
    assert registry.get_sample_value("credit_inference_log_queue_depth") == 20
    assert sample(registry, "spilled") == 480
    writer.start()
    eventually(lambda: not writer.spill_pending() and writer.flush(0.1), 30, "replayed")
    writer.close()
    assert count_rows(url) == 500
    assert sample(registry, "written") == 20
    assert sample(registry, "replayed") == 480


def test_slow_database_keeps_memory_bounded(
    postgres_server, tmp_path: Path, make_records: MakeRecords
) -> None:
    """A table lock stalls every insert: the queue stays bounded, records spill, nothing is lost."""
    url = postgres_server.url(postgres_server.create_database())
    registry = CollectorRegistry()
    writer = InferenceLogWriter(
        url,
        tmp_path / "spill",
        max_queue=100,
        batch_size=50,
        flush_interval=0.05,
        retry_interval=0.5,
        statement_timeout=2,
        registry=registry,
    ).start()
    writer.submit(make_records(10))
    assert writer.flush(30)  # table exists now
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as locker:
        locker.execute("LOCK TABLE inference_log IN ACCESS EXCLUSIVE MODE")
        depths = []
        for i in range(40):
            writer.submit(make_records(25, seed=i))
            depths.append(registry.get_sample_value("credit_inference_log_queue_depth") or 0)
            time.sleep(0.02)
        assert max(depths) <= 100
        assert sample(registry, "spilled") > 0
        locker.rollback()  # releases the lock
    eventually(lambda: writer.flush(0.1) and not writer.spill_pending(), 60, "drained")
    writer.close()
    assert count_rows(url) == 10 + 40 * 25


def test_database_outage_spills_and_replays_exactly_once(
    private_postgres, tmp_path: Path, make_records: MakeRecords
) -> None:
    """Stop the real PostgreSQL mid-stream, keep submitting, restart it: every record once."""
    url = private_postgres.url(private_postgres.create_database())
    registry = CollectorRegistry()
    writer = InferenceLogWriter(
        url, tmp_path / "spill", flush_interval=0.05, retry_interval=0.5, connect_timeout=1, registry=registry
    ).start()
    submitted = 0

    def burst(seed: int) -> None:
        nonlocal submitted
        for i in range(10):
            batch = make_records(20, seed=seed * 100 + i)
            writer.submit(batch)
            submitted += len(batch)
            time.sleep(0.02)

    burst(1)
    assert writer.flush(30)
    private_postgres.stop()
    burst(2)
    assert writer.flush(30)
    assert writer.spill_pending()
    assert not writer.stats.database_up
    restart_postgres(private_postgres, tmp_path / "pg-restart")
    burst(3)
    eventually(lambda: writer.flush(0.1) and not writer.spill_pending(), 60, "replayed")
    writer.close()
    assert count_rows(url) == submitted == 600
    assert sample(registry, "spilled") >= 200
    assert sample(registry, "replayed") == sample(registry, "spilled")
    assert sample(registry, "dropped") == 0


def test_close_spills_when_database_is_down_and_next_writer_replays(
    tmp_path: Path, make_records: MakeRecords, postgres_server
) -> None:
    """Shutdown during an outage: records go to the spill file; the next process replays them,
    and a line torn by a crash is counted as dropped, not fatal."""
    spill = tmp_path / "spill"
    dead = "postgresql+psycopg://postgres@127.0.0.1:9/none"  # port 9 (discard): nothing listens
    first = InferenceLogWriter(dead, spill, connect_timeout=1, flush_interval=0.05).start()
    first.submit(make_records(40))
    first.close()
    assert first.stats.written == 0
    assert first.stats.spilled == 40
    files = list(spill.glob("*.jsonl"))
    assert len(files) == 1
    with files[0].open("ab") as f:
        f.write(b'{"request_id": "torn", "row_ind')
    url = postgres_server.url(postgres_server.create_database())
    registry = CollectorRegistry()
    second = InferenceLogWriter(url, spill, flush_interval=0.05, registry=registry).start()
    eventually(lambda: not second.spill_pending(), 30, "replayed")
    second.close()
    assert count_rows(url) == 40
    assert sample(registry, "replayed") == 40
    assert sample(registry, "dropped") == 1


def test_concurrent_submitters(db_url: str, tmp_path: Path, make_records: MakeRecords) -> None:
    batches = [make_records(10, seed=i) for i in range(40)]
    with InferenceLogWriter(
        db_url, tmp_path / "spill", max_queue=50, flush_interval=0.02, retry_interval=0.2
    ) as writer:
        threads = [
            threading.Thread(target=lambda k=k: [writer.submit(b) for b in batches[k::4]]) for k in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        eventually(lambda: writer.flush(0.1) and not writer.spill_pending(), 60, "drained")
    assert count_rows(db_url) == 400


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sigterm_under_load_loses_nothing(database: str, tmp_path: Path, postgres_server) -> None:
    url = (
        f"sqlite:///{tmp_path / 'log.db'}"
        if database == "sqlite"
        else postgres_server.url(postgres_server.create_database())
    )
    count_file = tmp_path / "count"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.inference_log.log_load", url, str(tmp_path / "spill"), str(count_file)],
        env=env,
        cwd=tmp_path,
    )
    try:
        eventually(lambda: (tmp_path / "started").exists(), 60, "started")
        time.sleep(2.0)  # load for a while: batches in flight, some queued
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    submitted = int(count_file.read_text())
    assert submitted > 100
    assert count_rows(url) == submitted
    assert not list((tmp_path / "spill").glob("*.jsonl"))


def test_an_existing_log_table_gains_the_new_columns(
    db_url: str, tmp_path: Path, hasher: ApplicantHasher
) -> None:
    """A database created before ``application_id``/``age_band``/``marital`` existed: the writer
    adds the nullable columns, old rows keep null, new rows store the values."""
    old = sa.MetaData()
    legacy = sa.Table(
        LOG_TABLE.name, old, *(c.copy() for c in LOG_TABLE.columns if c.name not in ADDED_COLUMNS)
    )
    engine = sa.create_engine(db_url)
    legacy.create(engine)
    before = column_batch(hasher, 5, seed=7)
    with engine.begin() as conn:
        conn.execute(
            legacy.insert(),
            [{k: v for k, v in r.to_row().items() if k not in ADDED_COLUMNS} for r in before.records()],
        )
    engine.dispose()

    with InferenceLogWriter(db_url, tmp_path / "spill", flush_interval=0.05) as writer:
        writer.submit(column_batch(hasher, 8, seed=8))
        assert writer.flush(30)
        stored = list(iter_rows(writer.engine))
        present = {c["name"] for c in sa.inspect(writer.engine).get_columns(LOG_TABLE.name)}
    assert set(ADDED_COLUMNS) <= present
    old_rows = [r for r in stored if r.request_id == "cols-7"]
    new_rows = [r for r in stored if r.request_id == "cols-8"]
    assert len(old_rows) == 5
    assert all(r.application_id is None and r.age_band is None for r in old_rows)
    assert [r.age_band for r in sorted(new_rows, key=lambda r: r.row_index)][:3] == ["18-24", "62+", None]

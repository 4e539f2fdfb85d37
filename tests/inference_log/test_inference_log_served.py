"""The inference log's ``served`` column and split rows, on real SQLite and PostgreSQL: what was
served and what only shadowed, each split side under its request row, and a log created before
the column existed upgraded in place with its rows kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from credit_scoring.features import feature_names
from inference_log import (
    LOG_TABLE,
    ApplicantHasher,
    InferenceLogWriter,
    InferenceRecord,
    RecordBatch,
    Role,
    iter_rows,
)
from inference_log.spill import SpillFile, read_spill


def scored(
    hasher: ApplicantHasher, rows: list[int], role: Role, *, served: bool, request_id: str = "req"
) -> RecordBatch:
    n = len(rows)
    return RecordBatch.from_scored(
        request_id=request_id,
        applicant_ids=[f"app-{i}" for i in rows],
        hasher=hasher,
        matrix=np.zeros((n, len(feature_names()))),
        pd=[0.1] * n,
        score=[620.0] * n,
        decisions=["approve"] * n,
        risk_bands=["A"] * n,
        reason_codes=[[] for _ in rows],
        thin_file=[False] * n,
        model_name="credit-risk",
        model_version="2" if role is Role.CHALLENGER else "1",
        model_alias=role.value,
        role=role,
        latency_ms=1.0,
        row_indexes=rows,
        served=served,
    )


def test_split_sides_and_shadow_copies_are_told_apart(db_url: str, tmp_path: Path, hasher) -> None:
    batches = [
        # A split request: rows 0, 2, 3 decided by the champion, rows 1 and 4 by the challenger.
        scored(hasher, [0, 2, 3], Role.CHAMPION, served=True, request_id="split"),
        scored(hasher, [1, 4], Role.CHALLENGER, served=True, request_id="split"),
        # A shadowed request: the champion served every row, the challenger scored copies.
        scored(hasher, [0, 1], Role.CHAMPION, served=True, request_id="shadow"),
        scored(hasher, [0, 1], Role.CHALLENGER, served=False, request_id="shadow"),
    ]
    with InferenceLogWriter(db_url, tmp_path / "spill", flush_interval=0.05) as writer:
        for batch in batches:
            writer.submit(batch)
        assert writer.flush(30)
        stored = {(r.request_id, r.row_index, r.role): r for r in iter_rows(writer.engine)}
    assert {(rid, i, role.value, r.served) for (rid, i, role), r in stored.items()} == {
        ("split", 0, "champion", True),
        ("split", 1, "challenger", True),
        ("split", 2, "champion", True),
        ("split", 3, "champion", True),
        ("split", 4, "challenger", True),
        ("shadow", 0, "champion", True),
        ("shadow", 1, "champion", True),
        ("shadow", 0, "challenger", False),
        ("shadow", 1, "challenger", False),
    }
    assert stored[("split", 4, Role.CHALLENGER)].applicant_hash == hasher("app-4")


def test_a_split_part_survives_slicing_and_the_spill_file(hasher, tmp_path: Path) -> None:
    batch = scored(hasher, [1, 4, 7, 9], Role.CHALLENGER, served=True)
    assert [r.row_index for r in batch[1:3].records()] == [4, 7]
    assert batch[1:3].served is True
    spill = SpillFile(tmp_path / "spill")
    spill.append(batch.to_rows())
    (path,) = spill.claim()
    rows, bad = read_spill(path)
    assert bad == 0
    assert [InferenceRecord.from_row(r) for r in rows] == batch.records()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_log_from_before_the_column_is_upgraded_and_keeps_its_rows(
    database: str, tmp_path: Path, hasher, request: pytest.FixtureRequest
) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.url(server.create_database())
    # The table as it was: every column but ``served``, with one row in it.
    old = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in LOG_TABLE.columns
        if c.name != "served"
    ]
    table = sa.Table(LOG_TABLE.name, old, *columns)
    engine = sa.create_engine(url)
    old.create_all(engine)
    row = scored(hasher, [0], Role.CHAMPION, served=True, request_id="old").records()[0].to_row()
    del row["served"]
    with engine.begin() as conn:
        conn.execute(table.insert(), [row])
    engine.dispose()

    with InferenceLogWriter(url, tmp_path / "spill", flush_interval=0.05) as writer:
        writer.submit(scored(hasher, [0], Role.CHALLENGER, served=False, request_id="new"))
        assert writer.flush(30)
        stored = {r.request_id: r for r in iter_rows(writer.engine)}
    assert stored["old"].served is None  # before the column: served exactly when role is champion
    assert stored["new"].served is False

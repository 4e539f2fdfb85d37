"""Inference-log schema migrations (Alembic) on real PostgreSQL and SQLite: a database of the
schema before migrations, holding rows, is adopted and upgraded with its rows kept; an empty one
gets exactly the tables the code writes to; replicas upgrading at once do not collide."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from inference_log import LOG_TABLE, ApplicantHasher, InferenceRecord, iter_rows
from inference_log.drift_runs import DRIFT_RUNS, latest_results, record_result
from inference_log.migrations import HEAD, VERSION_TABLE, _config, current_revision, upgrade
from inference_log.store import ADDED_COLUMNS, POSTGRESQL_ONLY_INDEXES, LogStore, create_log_engine
from monitoring.audit_retention import erase_applicant
from monitoring.outcomes import OUTCOMES

MakeRecords = Callable[..., list[InferenceRecord]]
EXAMPLE = Path(__file__).parent / "migrations_example"


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.url(server.create_database())
    made = create_log_engine(url)
    yield made
    made.dispose()


def _previous_schema(engine: sa.Engine, era: str) -> sa.Table:
    """What the code before migrations did: ``create`` the tables from their definitions, as the
    first release (without the audit columns and outcomes) or the governance release had them."""
    DRIFT_RUNS.create(engine)
    if era == "governance":
        LOG_TABLE.create(engine)
        OUTCOMES.create(engine)
        return LOG_TABLE
    legacy = sa.Table(
        LOG_TABLE.name, sa.MetaData(), *(c.copy() for c in LOG_TABLE.columns if c.name not in ADDED_COLUMNS)
    )
    legacy.create(engine)
    return legacy


def _result(version: str) -> dict[str, object]:
    return {
        "model_name": "credit-risk",
        "model_version": version,
        "status": "ok",
        "message": "",
        "records": 9,
    }


@pytest.mark.parametrize("era", ["first", "governance"])
def test_a_database_of_a_previous_schema_keeps_its_rows_through_the_upgrade(
    engine: sa.Engine, make_records: MakeRecords, era: str
):
    table = _previous_schema(engine, era)
    before = make_records(25, seed=3)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{k: v for k, v in r.to_row().items() if k in table.c} for r in before])
    with engine.begin() as conn:
        conn.execute(
            DRIFT_RUNS.insert().values(run_at=datetime.now(UTC), result=_result("1"), **_result("1"))
        )
    assert current_revision(engine) is None  # no version table: a pre-migration database
    # Rows stored without ``served`` read back as NULL there (served exactly when champion).
    stored = [r if "served" in table.c else dataclasses.replace(r, served=None) for r in before]

    upgrade(engine)  # adopts it: the baseline creates nothing that exists
    assert current_revision(engine) == HEAD
    assert list(iter_rows(engine)) == sorted(stored, key=lambda r: r.logged_at)

    # A later revision adding nullable columns (as governance and the router will) on top.
    upgrade(engine, extra_locations=(EXAMPLE,))
    assert current_revision(engine) == "0005_example"
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT request_id, route, served, age_band FROM inference_log")).all()
    assert len(rows) == 25
    assert {(r.route, r.age_band) for r in rows} == {(None, None)}
    assert {r.served for r in rows} == {s.served for s in stored}
    assert list(iter_rows(engine)) == sorted(stored, key=lambda r: r.logged_at)  # old readers still read
    assert [r["model_version"] for r in latest_results(engine)] == ["1"]

    # The code of this revision keeps writing into the upgraded table (a rollback after an
    # upgrade): an unknown newer revision is left alone, rows still go in.
    upgrade(engine)
    assert current_revision(engine) == "0005_example"
    store = LogStore(engine)
    more = make_records(5, seed=4, request_id="after-upgrade")
    store.insert([r.values(store.bind_time) for r in more])
    record_result(engine, _result("2"), None)
    assert len(list(iter_rows(engine))) == 30


def test_an_empty_database_gets_exactly_the_tables_the_code_writes(engine: sa.Engine):
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == HEAD
    metadata = sa.MetaData()
    for table in (LOG_TABLE, DRIFT_RUNS, OUTCOMES):
        copy = table.to_metadata(metadata)
        if engine.dialect.name != "postgresql":  # alembic's comparison does not read ddl_if
            copy.indexes = {i for i in copy.indexes if i.name not in POSTGRESQL_ONLY_INDEXES}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        differences = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    assert differences == []


def _indexes(engine: sa.Engine) -> set[str]:
    return {i["name"] for i in sa.inspect(engine).get_indexes(LOG_TABLE.name)}


def test_revision_0004_keeps_the_applicant_index_on_postgresql_only_and_erasure_works_both_ways(
    engine: sa.Engine, make_records: MakeRecords, hasher: ApplicantHasher
):
    upgrade(engine, "0003")
    store = LogStore(engine)
    records = [
        dataclasses.replace(r, age_band="25-34", marital="married")
        for r in make_records(40, seed=5) + make_records(40, seed=6)  # app-0..39 in two requests
    ]
    store.insert([r.values(store.bind_time) for r in records])
    assert "ix_inference_log_applicant" in _indexes(engine)

    upgrade(engine)
    assert current_revision(engine) == "0004"
    assert ("ix_inference_log_applicant" in _indexes(engine)) is (engine.dialect.name == "postgresql")
    assert "ix_inference_log_application" in _indexes(engine)  # the others stay
    assert len(list(iter_rows(engine))) == 80
    assert erase_applicant(engine, hasher("app-7")) == 2  # a scan on SQLite, the index on PostgreSQL
    assert erase_applicant(engine, hasher("app-7")) == 0
    audit = {(r.applicant_hash, r.age_band, r.marital) for r in iter_rows(engine)}
    assert (hasher("app-7"), None, None) in audit
    assert (hasher("app-8"), "25-34", "married") in audit

    from alembic import command

    with engine.begin() as connection:
        command.downgrade(_config(connection), "0003")
    assert current_revision(engine) == "0003"
    assert "ix_inference_log_applicant" in _indexes(engine)
    assert len(list(iter_rows(engine))) == 80
    upgrade(engine)
    assert ("ix_inference_log_applicant" in _indexes(engine)) is (engine.dialect.name == "postgresql")


def test_head_is_the_newest_revision_shipped():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        script = ScriptDirectory.from_config(_config(conn))
        assert script.get_heads() == [HEAD]


def test_replicas_upgrading_at_once_do_not_collide(postgres_server):
    url = postgres_server.url(postgres_server.create_database())
    engines = [create_log_engine(url) for _ in range(4)]
    errors: list[BaseException] = []

    def run(e: sa.Engine) -> None:
        try:
            upgrade(e)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert current_revision(engines[0]) == HEAD
    for e in engines:
        e.dispose()

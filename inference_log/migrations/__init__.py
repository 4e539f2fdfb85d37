"""Schema migrations of the inference-log database (Alembic), run before the first write.

The tables (``inference_log``, ``drift_runs``) change through revisions in ``versions/``, never
through ``create_all``: a database holding rows of an earlier schema is upgraded in place, rows
kept. ``upgrade(engine)`` brings any database to the newest revision:

- an empty database gets every table;
- a database created before migrations existed (the tables, no version table) is adopted: the
  baseline revision creates only the tables that are missing (their schema is the baseline's),
  then later revisions apply;
- on PostgreSQL one transaction-scoped advisory lock serialises replicas starting together.

The version is kept in its own table, ``inference_log_schema_version`` (not Alembic's default
``alembic_version``, which MLflow uses when it shares the server). Adding a column is one more
file in ``versions/`` whose ``down_revision`` is the current head: nullable (or with a server
default) so rows already stored stay valid, and written by the code in the same change
(``tests/monitoring/test_migrations.py`` shows such a revision applied to a database with rows).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "VERSION_TABLE", "current_revision", "upgrade"]

VERSION_TABLE = "inference_log_schema_version"
HEAD = "0004"
"""The newest revision this code writes with (checked against ``versions/`` by the tests)."""
_LOCK_KEY = 0x1C0_5C0_2E  # pg_advisory_xact_lock key of inference-log migrations
_HERE = Path(__file__).resolve().parent

log = logging.getLogger(__name__)


def _config(connection: sa.Connection, extra_locations: tuple[Path, ...] = ()) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    locations = [str(_HERE / "versions"), *(str(p) for p in extra_locations)]
    config.set_main_option("version_locations", " ".join(locations))
    config.set_main_option("path_separator", "space")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, target: str = "heads", *, extra_locations: tuple[Path, ...] = ()) -> None:
    """Bring the database to ``target`` (default: every head) in one transaction.

    A database already at a revision this code does not know (a newer release wrote it, then was
    rolled back) is left as it is: revisions only add nullable columns (or add and drop
    indexes), so older code still writes its rows. ``extra_locations``: more ``versions``
    folders (tests add revisions the way a later change will)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config = _config(connection, extra_locations)
        script = ScriptDirectory.from_config(config)
        known = {r.revision for r in script.walk_revisions()}
        current = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        ).get_current_heads()
        unknown = [r for r in current if r not in known]
        if unknown:
            log.warning(
                "inference-log schema is at revision %s, newer than this code knows: not migrating",
                ", ".join(unknown),
            )
            return
        command.upgrade(config, target)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()

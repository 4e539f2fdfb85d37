"""Alembic's environment: runs the revisions on the connection ``upgrade`` hands over.

Alembic executes this file; imported anywhere else (an image's import check) it does nothing.
"""

from __future__ import annotations

from alembic import context

from inference_log.migrations import VERSION_TABLE


def _run() -> None:
    try:
        config = context.config
    except AttributeError:  # imported outside an Alembic command: nothing to migrate
        return
    connection = config.attributes["connection"]
    context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


_run()

"""A later revision as the governance and router changes will write theirs: nullable columns
on ``inference_log`` (rows already stored stay valid). Used only by the migration tests."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_example"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.add_column(sa.Column("outcome", sa.String(16), nullable=True))
        batch.add_column(sa.Column("served", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.drop_column("served")
        batch.drop_column("outcome")

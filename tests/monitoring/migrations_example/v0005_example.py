"""A later revision as the next one will be: a nullable column on ``inference_log`` (rows
already stored stay valid), on top of 0004. Used only by the migration tests."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_example"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.add_column(sa.Column("route", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.drop_column("route")

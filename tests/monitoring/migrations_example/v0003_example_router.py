"""A later revision as the champion-challenger router's will be: nullable columns on
``inference_log`` (rows already stored stay valid). Used only by the migration tests."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_example"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.add_column(sa.Column("route", sa.String(16), nullable=True))
        batch.add_column(sa.Column("served", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.drop_column("served")
        batch.drop_column("route")

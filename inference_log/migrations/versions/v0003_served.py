"""The split router: ``served`` on ``inference_log`` (nullable boolean). True when the answer went
to the client, false for a shadow copy; rows stored before it stay ``NULL``, which means served
exactly when ``role`` is ``champion`` (before the router a challenger only ever shadowed).

Adds only what is missing: an earlier build of the router added the column with idempotent DDL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inference_log")}
    if "served" not in present:
        with op.batch_alter_table("inference_log") as batch:
            batch.add_column(sa.Column("served", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.drop_column("served")

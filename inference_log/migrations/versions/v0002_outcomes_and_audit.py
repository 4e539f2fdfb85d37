"""Outcome and fairness monitoring: ``application_id``, ``age_band``, ``marital`` on
``inference_log`` (nullable: rows stored before have none) with their indexes, and the
``outcomes`` table (``credit-scoring outcomes load``).

Adds only what is missing: the governance release created these with idempotent DDL before
migrations existed, so a database it wrote is adopted as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = {"application_id": sa.String(64), "age_band": sa.String(16), "marital": sa.String(16)}
_INDEXES = {
    "ix_inference_log_application": ["application_id"],
    "ix_inference_log_applicant": ["applicant_hash"],
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("inference_log")}
    missing = [name for name in _COLUMNS if name not in present]
    if missing:
        with op.batch_alter_table("inference_log") as batch:
            for name in missing:
                batch.add_column(sa.Column(name, _COLUMNS[name], nullable=True))
    indexes = {i["name"] for i in inspector.get_indexes("inference_log")}
    for name, columns in _INDEXES.items():
        if name not in indexes:
            op.create_index(name, "inference_log", columns)
    if not inspector.has_table("outcomes"):
        op.create_table(
            "outcomes",
            sa.Column("application_id", sa.String(64), primary_key=True),
            sa.Column("defaulted", sa.Boolean, nullable=False),
            sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("outcomes")
    for name in _INDEXES:
        op.drop_index(name, "inference_log")
    with op.batch_alter_table("inference_log") as batch:
        for name in reversed(list(_COLUMNS)):
            batch.drop_column(name)

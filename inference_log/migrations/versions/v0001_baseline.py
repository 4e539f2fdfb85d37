"""Baseline: ``inference_log`` and ``drift_runs`` as they were before migrations existed.

Creates only what is missing, so a database the earlier code made with ``create_all`` (same
tables, no version table) is adopted with its rows. Written out column by column: a revision
never imports today's table objects, which later revisions change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "inference_log" not in tables:
        op.create_table(
            "inference_log",
            sa.Column("request_id", sa.String(128), primary_key=True),
            sa.Column("row_index", sa.Integer, primary_key=True),
            sa.Column("role", sa.String(16), primary_key=True),
            sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("applicant_hash", sa.String(64), nullable=False),
            sa.Column("model_name", sa.String(128), nullable=False),
            sa.Column("model_version", sa.String(32), nullable=False),
            sa.Column("model_alias", sa.String(64)),
            sa.Column("features", _JSON, nullable=False),
            sa.Column("pd", sa.Float, nullable=False),
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("decision", sa.String(16), nullable=False),
            sa.Column("risk_band", sa.String(32)),
            sa.Column("reason_codes", _JSON, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.Column("thin_file", sa.Boolean, nullable=False),
        )
        op.create_index("ix_inference_log_logged_at", "inference_log", ["logged_at"])
        op.create_index(
            "ix_inference_log_model", "inference_log", ["model_name", "model_version", "logged_at"]
        )
    if "drift_runs" not in tables:
        op.create_table(
            "drift_runs",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("model_name", sa.String(128), nullable=False),
            sa.Column("model_version", sa.String(32), nullable=False),
            sa.Column("model_alias", sa.String(64)),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("message", sa.Text, nullable=False),
            sa.Column("records", sa.Integer, nullable=False),
            sa.Column("mlflow_run_id", sa.String(64)),
            sa.Column("result", _JSON, nullable=False),
        )
        op.create_index("ix_drift_runs_model", "drift_runs", ["model_name", "model_version", "run_at"])


def downgrade() -> None:
    op.drop_table("drift_runs")
    op.drop_table("inference_log")

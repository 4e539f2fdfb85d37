"""``ix_inference_log_applicant`` (``applicant_hash``) stays on PostgreSQL only; on SQLite it is
dropped and per-applicant erasure scans the table.

Why: the key is a keyed hash, so every insert lands on a random leaf page of that index. On
SQLite (one writer thread in the transformer's process, every dirtied page copied to the WAL)
that doubled the insert CPU of the batch path as the table grew: 25 µs per row at 250,000 rows
with the index, 11 without, growing with the table (52-60 vs 26 µs on the 566,804-row log of a
bench run). Erasure is a rare administrative job: without the index it reads the whole table,
about 0.3 s for 250,000 rows (``docs/monitoring.md``). PostgreSQL, the production setting, keeps
the index: its backend maintains it, not the transformer, and its tables are the large ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEX = "ix_inference_log_applicant"


def _present() -> bool:
    return _INDEX in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("inference_log")}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and _present():
        op.drop_index(_INDEX, "inference_log")


def downgrade() -> None:
    if not _present():
        op.create_index(_INDEX, "inference_log", ["applicant_hash"])

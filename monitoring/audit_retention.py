"""Audit attributes in the inference log: kept for a retention period, erasable per applicant.

Age band and marital status sit next to each decision only so fairness can be monitored in
production (``monitoring.performance``). They are personal data with a purpose and a time limit:

- **retention**: after ``CREDIT_INFERENCE_LOG_AUDIT_RETENTION_DAYS`` (730 by default) they are
  erased (set to null) from older records; the decision record itself stays. The drift job
  applies it on every run; ``credit-scoring audit purge`` applies it on demand;
- **erasure**: ``credit-scoring audit erase APPLICANT_ID`` nulls them in every record of one
  applicant (found by the keyed applicant hash the log stores, the id itself is never stored).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from inference_log import LOG_TABLE

__all__ = ["AUDIT_COLUMNS", "erase_applicant", "expire_audit_attributes"]

AUDIT_COLUMNS = ("age_band", "marital")


def _has_audit_columns(engine: sa.Engine) -> bool:
    inspector = sa.inspect(engine)
    if not inspector.has_table(LOG_TABLE.name):
        return False
    present = {c["name"] for c in inspector.get_columns(LOG_TABLE.name)}
    return set(AUDIT_COLUMNS) <= present


def _holds_audit() -> sa.ColumnElement[bool]:
    return sa.or_(*(LOG_TABLE.c[name].is_not(None) for name in AUDIT_COLUMNS))


def expire_audit_attributes(engine: sa.Engine, retention_days: int, now: datetime) -> int:
    """Null the audit attributes of records logged more than ``retention_days`` ago; how many."""
    if not _has_audit_columns(engine):
        return 0
    cutoff = now - timedelta(days=retention_days)
    statement = (
        sa.update(LOG_TABLE)
        .where(LOG_TABLE.c.logged_at < cutoff, _holds_audit())
        .values(dict.fromkeys(AUDIT_COLUMNS))
    )
    with engine.begin() as conn:
        return int(conn.execute(statement).rowcount or 0)


def erase_applicant(engine: sa.Engine, applicant_hash: str) -> int:
    """Null the audit attributes of every record of one applicant (by keyed hash); how many.

    PostgreSQL finds the records by ``ix_inference_log_applicant``; SQLite has no such index
    (revision 0004: it doubled the writer's insert CPU) and reads the whole table."""
    if not _has_audit_columns(engine):
        return 0
    statement = (
        sa.update(LOG_TABLE)
        .where(LOG_TABLE.c.applicant_hash == applicant_hash, _holds_audit())
        .values(dict.fromkeys(AUDIT_COLUMNS))
    )
    with engine.begin() as conn:
        return int(conn.execute(statement).rowcount or 0)

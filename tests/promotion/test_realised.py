"""``credit-scoring compare``'s realised performance: each side's decisions of the window that
have an outcome, on a real (SQLite) inference log brought up by the migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from inference_log import LOG_TABLE, create_log_engine, create_schema
from monitoring.outcomes import OUTCOMES
from promotion.compare import realised_by_side

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
START, END = NOW - timedelta(days=1), NOW


def _row(i: int, role: str, version: str, pd_: float, logged_at: datetime) -> dict[str, Any]:
    return {
        "request_id": f"r{i}",
        "row_index": 0,
        "role": role,
        "logged_at": logged_at,
        "applicant_hash": f"h{i}",
        "model_name": "credit",
        "model_version": version,
        "features": {},
        "pd": pd_,
        "score": 600.0,
        "decision": "approve" if pd_ < 0.3 else "decline",
        "reason_codes": [],
        "latency_ms": 1.0,
        "thin_file": False,
        "application_id": f"A{i}",
    }


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = create_log_engine(f"sqlite:///{tmp_path / 'log.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def _write(engine: Any, rows: list[dict[str, Any]], defaulted: dict[str, bool]) -> None:
    with engine.begin() as conn:
        conn.execute(LOG_TABLE.insert(), rows)
        if defaulted:
            conn.execute(
                OUTCOMES.insert(),
                [
                    {"application_id": a, "defaulted": d, "observed_at": NOW, "loaded_at": NOW}
                    for a, d in defaulted.items()
                ],
            )


def test_each_side_of_the_window_with_its_outcomes(engine: Any):
    rng = np.random.default_rng(3)
    rows, defaulted = [], {}
    for i in range(80):
        role, version = ("champion", "1") if i % 2 else ("challenger", "2")
        pd_ = float(rng.uniform(0.01, 0.9))
        rows.append(_row(i, role, version, pd_, NOW - timedelta(hours=2)))
        if i % 5:  # a fifth of the applications have no outcome yet
            defaulted[f"A{i}"] = bool(rng.uniform() < pd_)
    # Outside the window, and another model's version: neither counts.
    rows.append(_row(100, "champion", "1", 0.5, NOW - timedelta(days=3)))
    defaulted["A100"] = True
    _write(engine, rows, defaulted)

    realised = realised_by_side(engine, "credit", {"champion": "1", "challenger": "2"}, START, END)

    assert realised["status"] == "ok"
    for role, version in (("champion", "1"), ("challenger", "2")):
        side = [r for r in rows[:80] if r["role"] == role and r["application_id"] in defaulted]
        y = np.array([defaulted[r["application_id"]] for r in side], dtype=float)
        approved = np.array([r["decision"] == "approve" for r in side])
        got = realised[role]
        assert set(got) == {"version", "records", "default_rate", "approved_default_rate", "auc", "ks"}
        assert got["version"] == version
        assert got["records"] == len(side) == 32
        assert got["default_rate"] == pytest.approx(y.mean())
        assert got["approved_default_rate"] == pytest.approx(y[approved].mean())
        assert got["auc"] == pytest.approx(roc_auc_score(y, [r["pd"] for r in side]))
        assert 0.0 < got["ks"] <= 1.0


def test_no_outcomes_while_no_record_of_the_window_has_one(engine: Any):
    _write(engine, [_row(1, "champion", "1", 0.2, NOW - timedelta(hours=1))], {})
    realised = realised_by_side(engine, "credit", {"champion": "1", "challenger": "2"}, START, END)
    assert realised == {"status": "no_outcomes", "reason": "no outcome matches a record of the window"}

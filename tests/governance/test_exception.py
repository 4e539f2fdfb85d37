"""Fairness exception files: the shipped one is valid, broken ones are refused naming every problem."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from governance.exception import DEMO_EXCEPTION, ExceptionFileError, FairnessException, load_exception


def test_the_demo_exception_is_valid_and_justified():
    exception = load_exception(DEMO_EXCEPTION)
    assert exception.model_name == "credit-risk"
    assert 0 < exception.air_floor < 0.8
    assert len(exception.business_justification) > 300
    assert exception.expiry > exception.date
    assert "not a real person" in exception.signer


def test_an_invalid_file_names_every_problem(tmp_path):
    path = tmp_path / "exception.yaml"
    path.write_text(
        yaml.safe_dump({"model_name": "credit-risk", "air_floor": 0.85, "signer": "x", "extra": 1})
    )
    with pytest.raises(ExceptionFileError) as error:
        load_exception(path)
    message = str(error.value)
    for field in ("air_floor", "business_justification", "signer", "date", "expiry", "extra"):
        assert field in message


def test_expiry_must_follow_the_signature(tmp_path):
    record = load_exception(DEMO_EXCEPTION).model_dump(mode="json")
    record["expiry"] = record["date"]
    path = tmp_path / "exception.yaml"
    path.write_text(yaml.safe_dump(record))
    with pytest.raises(ExceptionFileError, match="expiry must be after date"):
        load_exception(path)


def test_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(ExceptionFileError, match="cannot read"):
        load_exception(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ExceptionFileError, match="mapping"):
        load_exception(tmp_path / "list.yaml")


def test_problems_and_floor():
    exception = FairnessException.model_validate(
        {
            **load_exception(DEMO_EXCEPTION).model_dump(),
            "date": dt.date(2026, 1, 1),
            "expiry": dt.date(2026, 12, 31),
        }
    )
    assert exception.problems("credit-risk", dt.date(2026, 6, 1)) == []
    assert exception.problems("credit-risk", dt.date(2027, 1, 1)) == ["it expired on 2026-12-31"]
    assert exception.covers(exception.air_floor)
    assert not exception.covers(exception.air_floor - 0.001)

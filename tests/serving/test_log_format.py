"""The servers' log lines are KServe's format, character for character (the formatter only
formats each second's date once)."""

from __future__ import annotations

import logging

from kserve import logging as kserve_logging

from serving.server import _SecondFormatter


def test_lines_equal_the_standard_formatters_across_seconds():
    fmt, datefmt = kserve_logging.KSERVE_LOGGER_FORMAT, kserve_logging.KSERVE_LOGGER_DATE_FORMAT
    standard, ours = logging.Formatter(fmt, datefmt), _SecondFormatter(fmt, datefmt)
    logger = logging.getLogger("transformer.access")
    start = 1_764_526_000.0
    for i in range(3000):  # 0.7 ms apart: many lines per second, and a few second boundaries
        record = logger.makeRecord(logger.name, logging.INFO, "model.py", 239, "request_id=%s", (i,), None)
        record.created = start + i * 0.0007
        record.msecs = (record.created - int(record.created)) * 1000
        assert ours.format(record) == standard.format(record)
    # Without a date format both fall back to the default ISO-like time with milliseconds.
    record = logger.makeRecord(logger.name, logging.INFO, "model.py", 1, "x", (), None)
    assert _SecondFormatter(fmt).format(record) == logging.Formatter(fmt).format(record)

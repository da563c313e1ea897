"""The log formatter of every process (hybrid_core.logs): JSON lines with their fields, or text."""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from hybrid_core.logs import configure_logging, job_context, log_formatter


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # A CLI test may have left warnings captured; pytest restored showwarning behind logging's back.
    logging.captureWarnings(False)
    yield
    root.handlers, root.level = handlers, level
    logging.captureWarnings(False)


def _record(msg: str, *args: object, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("worker.tasks", level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def _json_line(record: logging.LogRecord) -> dict[str, Any]:
    line = log_formatter("json").format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_json_formatter_writes_ts_level_logger_msg_when_record_is_plain() -> None:
    line = _json_line(_record("job %s: retry %d", "abc", 2))

    assert line["msg"] == "job abc: retry 2"
    assert line["level"] == "info"
    assert line["logger"] == "worker.tasks"
    assert line["ts"].endswith("Z")
    assert "job_id" not in line and "trace_id" not in line


def test_json_formatter_carries_job_model_version_when_bound() -> None:
    with job_context("job-1", model="lstm_timeseries", version="2"):
        line = _json_line(_record("inferring"))
    after = _json_line(_record("later"))

    assert (line["job_id"], line["model"], line["version"]) == ("job-1", "lstm_timeseries", "2")
    assert "job_id" not in after


def test_json_formatter_carries_job_id_when_passed_as_extra() -> None:
    line = _json_line(_record("failed", job_id="job-2", color_message="uvicorn's own extra"))

    assert line["job_id"] == "job-2"
    assert "color_message" not in line


def test_json_formatter_keeps_traceback_in_one_line_when_exception_logged() -> None:
    try:
        raise ValueError("bad input")
    except ValueError:
        record = logging.LogRecord("worker.service", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    line = _json_line(record)

    assert line["level"] == "error"
    assert "ValueError: bad input" in line["exception"]


def test_text_formatter_is_readable_when_format_is_text() -> None:
    with job_context("job-3"):
        line = log_formatter("text").format(_record("job %s done", "job-3", level=logging.WARNING))

    assert "warning" in line and "job job-3 done" in line and "job_id=job-3" in line
    assert not line.startswith("{")


def test_configure_logging_routes_uvicorn_and_warnings_when_json(restore_root_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("celery.worker.strategy").debug("below the level: dropped")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "a library's warning" in lines[1]["msg"]
    assert [(line["logger"], line["msg"]) for line in lines] == [
        ("uvicorn.error", "Started server process"),
        ("py.warnings", lines[1]["msg"]),
    ]

"""Logging of every process, configured in one place: readable text, or JSON lines for a collector.

Our modules keep using ``logging.getLogger(__name__)``; :func:`configure_logging` puts one
handler on the root logger whose formatter is structlog's :class:`ProcessorFormatter`, so our
records, Celery's and uvicorn's come out in the same shape. A JSON line carries ``ts``, ``level``,
``logger`` and ``msg``, plus ``job_id``, ``model``, ``version`` (bound with :func:`job_context`
or passed as ``extra=``) and ``trace_id`` (of the current OpenTelemetry span) where known.
"""

from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["CONTEXT_KEYS", "LogFormat", "configure_logging", "job_context", "log_formatter"]

LogFormat = Literal["text", "json"]

CONTEXT_KEYS = ("job_id", "model", "version", "trace_id")
"""What a line carries, beyond ts/level/logger/msg, where known."""

# uvicorn configures these itself unless told not to (log_config=None); ours must reach them.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def configure_logging(
    log_format: LogFormat, level: int | str = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send every logger's records through one handler on ``stream`` (default: stderr) in ``log_format``.

    Call it once, first thing in a process's CLI; it replaces any handler already on the root.
    Python warnings become log records too, so a JSON log holds nothing but JSON lines.
    """
    logging.captureWarnings(True)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(log_formatter(log_format))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True


def log_formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of :func:`configure_logging`, for a handler of one's own (and the tests)."""
    shared: list[Processor] = [
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(allow=CONTEXT_KEYS),
        _add_trace_id,
    ]
    renderer: list[Processor]
    if log_format == "json":
        renderer = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ]
    else:
        renderer = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback, timestamp_key="ts"
            ),
        ]
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=renderer)


def job_context(
    job_id: str | None = None, *, model: str | None = None, version: str | None = None
) -> AbstractContextManager[None]:
    """Attach the job's id, model and version to every line logged inside the ``with`` block.

    A few context-variable sets and resets: cheap enough for the job path.
    """
    pairs = (("job_id", job_id), ("model", model), ("version", version))
    return structlog.contextvars.bound_contextvars(**{key: value for key, value in pairs if value})


def _add_trace_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The current span's trace id, when tracing is on and a span is current."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:  # never imported: tracing is off in this process
        return event_dict
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
    return event_dict

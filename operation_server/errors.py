"""Errors mapped to HTTP once: our HybridError tree and FastAPI's request validation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hybrid_core.errors import HybridError
from job_store.outages import TRANSIENT_STORE_ERRORS, as_unavailable
from operation_server.metrics import REQUESTS_REJECTED

logger = logging.getLogger(__name__)


def field_path(location: Sequence[Any]) -> str:
    """``("body", "series", 3, 5)`` -> ``series[3][5]``."""
    path = ""
    for part in location:
        if part in ("body", "query", "path"):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def error_response(error: HybridError) -> JSONResponse:
    """The JSON answer for one of our errors."""
    headers = {"Retry-After": str(error.retry_after_s)} if error.retryable else None
    return JSONResponse({"error": error.to_dict()}, status_code=error.status_code, headers=headers)


async def _hybrid_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HybridError)
    if 400 <= exc.status_code < 500:
        REQUESTS_REJECTED.labels(exc.code).inc()
    if exc.status_code >= 500:
        logger.warning("%s: %s", exc.code, exc.message)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": field_path(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    REQUESTS_REJECTED.labels("invalid_input").inc()
    body = {
        "error": {
            "code": "invalid_input",
            "message": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "details": problems[:20],
        }
    }
    return JSONResponse(body, status_code=422)


async def _store_outage(request: Request, exc: Exception) -> JSONResponse:
    return await _hybrid_error(request, as_unavailable(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; every HybridError leaves with its own status, a store outage as 503."""
    app.add_exception_handler(HybridError, _hybrid_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error_type in TRANSIENT_STORE_ERRORS:
        app.add_exception_handler(error_type, _store_outage)

"""Errors mapped to HTTP once: our HybridError tree and FastAPI's request validation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hybrid_core.errors import HybridError
from hybrid_core.schemas import SERIES_SHAPE_TAGS, ErrorEnvelope
from job_store.outages import TRANSIENT_STORE_ERRORS, as_unavailable
from operation_server.metrics import REQUESTS_REJECTED

logger = logging.getLogger(__name__)


def field_path(location: Sequence[Any]) -> str:
    """``("body", "series", 3, 5)`` -> ``series[3][5]``."""
    path = ""
    for part in location:
        if part in ("body", "query", "path") or part in SERIES_SHAPE_TAGS:
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
        {
            # A body that is not JSON at all is the body's fault, not that of a character offset.
            "field": "body" if err.get("type") == "json_invalid" else field_path(err.get("loc", ())),
            "message": str(err.get("msg", "invalid")),
        }
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


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (an unreadable body, an unknown path or method) in our envelope."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    error: dict[str, str] = {"code": code, "message": str(exc.detail)}
    if exc.status_code == 400:
        error["field"] = "body"  # FastAPI raises 400 only when it cannot parse the body
    REQUESTS_REJECTED.labels(code).inc()
    return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)


async def _store_outage(request: Request, exc: Exception) -> JSONResponse:
    return await _hybrid_error(request, as_unavailable(exc))


_MEANINGS: dict[int, str] = {
    400: "The request could not be read.",
    401: "No API key, or one nobody issued (with HYBRID_AUTH=required).",
    403: "A revoked key, a key without the scope, or an invalid admin token.",
    404: "No such model, version or job (another tenant's job does not exist for you).",
    409: "A conflict: version not loaded or incomplete, job already finished, idempotency key reused.",
    413: "The body or the job is too large.",
    422: "Invalid input; error.field names it, error.details lists every problem.",
    429: "Shed before any work (key rate, jobs in flight, full queue); retry after Retry-After.",
    503: "A dependency is down or the sync path is at capacity; retry after Retry-After.",
    504: "Triton did not answer in time.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for our error statuses, each with the error envelope's schema."""
    return {status: {"model": ErrorEnvelope, "description": _MEANINGS[status]} for status in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; every HybridError leaves with its own status, a store outage as 503."""
    app.add_exception_handler(HybridError, _hybrid_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error_type in TRANSIENT_STORE_ERRORS:
        app.add_exception_handler(error_type, _store_outage)

"""A database or Redis outage leaves the API as a 503 with our envelope and Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis
import sqlalchemy.exc
from fastapi import FastAPI

from operation_server.errors import install_error_handlers


class AdminShutdown(Exception):
    """Stands for the driver error PostgreSQL sends when it terminates a connection."""


OUTAGES: dict[str, Exception] = {
    "database": sqlalchemy.exc.OperationalError(
        "INSERT INTO jobs (id, model) VALUES (%(id)s, %(model)s)",
        {"id": "secret-id", "model": "m"},
        AdminShutdown("terminating connection due to administrator command\nmore"),
    ),
    "database-interface": sqlalchemy.exc.InterfaceError("SELECT 1", {}, AdminShutdown("connection closed")),
    "redis": redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    "redis-timeout": redis.TimeoutError("Timeout reading from socket"),
}


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/jobs")
    def submit() -> None:
        raise error

    return app


async def post(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.post("/v1/jobs")


@pytest.mark.parametrize("name", sorted(OUTAGES))
def test_store_outage_answers_503_with_retry_after_when_store_fails(name: str) -> None:
    response = asyncio.run(post(app_raising(OUTAGES[name])))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert ("Redis" if name.startswith("redis") else "the database") in error["message"]
    assert "secret-id" not in error["message"]  # no statement parameters leak out

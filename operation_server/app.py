"""``create_app(settings)``: the FastAPI application with its lifespan-managed resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hybrid_core.queueing import JOBS_QUEUE
from hybrid_core.settings import Settings, get_settings
from operation_server.body_limit import BodySizeLimit
from operation_server.errors import install_error_handlers
from operation_server.metrics import QUEUE_DEPTH, HttpMetrics, metrics_endpoint
from operation_server.routes import forecast, health, jobs, models, rollout
from operation_server.state import build_state
from operation_server.sweeper import SWEEP_INTERVAL_S, JobSweeper


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; resources (database, Redis, Triton, broker) open at startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.api = state
        QUEUE_DEPTH.set_function(lambda: float(state.redis.llen(JOBS_QUEUE)))
        state.catalog.start()
        state.waiter.start()
        state.rollout.start()
        sweeper = JobSweeper(state, interval_s=min(SWEEP_INTERVAL_S, max(0.5, settings.job_timeout_s / 4)))
        sweeper.start()
        try:
            yield
        finally:
            await sweeper.stop()
            await state.rollout.stop()
            await state.waiter.stop()
            await state.catalog.stop()
            await state.aioredis.aclose()
            await state.triton_aio.close()
            state.close()

    app = FastAPI(
        title="hybrid-inference",
        version="0.1.0",
        description="Forecasting jobs served by Celery thin-client workers over NVIDIA Triton.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(rollout.router)
    app.include_router(forecast.router)
    return app

"""``create_app(settings)``: the FastAPI application with its lifespan-managed resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hybrid_core.gc_tuning import settle_heap
from hybrid_core.settings import Settings, get_settings
from operation_server.background import PeriodicTask
from operation_server.body_limit import BodySizeLimit
from operation_server.catalog import READY_REFRESH_INTERVAL_S
from operation_server.errors import install_error_handlers
from operation_server.metrics import QUEUE_DEPTH, HttpMetrics, metrics_endpoint
from operation_server.reconciler import reconcile
from operation_server.retention import PRUNE_INTERVAL_S, prune_old_rows
from operation_server.rollout.service import LOOP_INTERVAL_S as ROLLOUT_INTERVAL_S
from operation_server.routes import actuals, forecast, health, jobs, models, rollout
from operation_server.scoring_pass import SCORING_INTERVAL_S, score_actuals
from operation_server.state import build_state
from operation_server.sweeper import SWEEP_INTERVAL_S, expire_stale_jobs


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; resources (database, Redis, Triton, broker) open at startup."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.api = state
        QUEUE_DEPTH.set_function(lambda: float(state.queue.depth()))
        sweep_interval_s = min(SWEEP_INTERVAL_S, max(0.5, settings.job_timeout_s / 4))
        upkeep = [
            PeriodicTask("triton readiness refresh", state.catalog.refresh, READY_REFRESH_INTERVAL_S),
            PeriodicTask("rollout upkeep", state.rollout.tick, ROLLOUT_INTERVAL_S),
            PeriodicTask("job sweeper", lambda: expire_stale_jobs(state), sweep_interval_s),
            PeriodicTask(
                "retention",
                lambda: prune_old_rows(settings, state.engine, state.store, state.accuracy),
                PRUNE_INTERVAL_S,
            ),
            PeriodicTask(
                "actuals scoring", lambda: score_actuals(state.engine, state.accuracy), SCORING_INTERVAL_S
            ),
            PeriodicTask(
                "stranded job reconciler",
                lambda: reconcile(settings, state.engine, state.store, state.queue, state.lifecycle),
                settings.reconcile_interval_s,
            ),
        ]
        for task in upkeep:
            task.start()
        state.waiter.start()
        settle_heap()  # every long-lived object of the process exists now
        try:
            yield
        finally:
            await state.waiter.stop()
            for task in reversed(upkeep):
                await task.stop()
            await state.aioredis.aclose()
            await state.triton_aio.close()
            state.close()

    app = FastAPI(
        title="hybrid-inference",
        version="0.1.0",
        description="Forecasting jobs served by Celery thin-client workers over NVIDIA Triton.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks stay off: hybrid_core.tracing instruments the app with
        # the maintained instrumentation, and the native check cost every request an environment read.
        telemetry={"tracing": False, "metrics": False, "logs": False},
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
    app.include_router(actuals.router)
    return app

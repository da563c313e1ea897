"""``hybrid-inference api``: serve the REST API with uvicorn."""

from __future__ import annotations

import argparse

from hybrid_core.logs import configure_logging
from hybrid_core.settings import get_settings
from hybrid_core.tracing import configure_tracing, instrument_app


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("api", help="serve the REST API")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from operation_server.app import create_app

    settings = get_settings()
    configure_logging(settings.log_format, args.log_level)
    configure_tracing(settings, "hybrid-api")
    app = create_app(settings)
    instrument_app(app)
    uvicorn.run(
        app,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level=args.log_level,
        # Our handler (hybrid_core.logs) formats uvicorn's loggers too: uvicorn must not install its own.
        log_config=None,
        access_log=False,
    )
    return 0

"""``hybrid-inference triton`` and ``hybrid-inference up``: the local stack in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from hybrid_core.settings import get_settings
from hybrid_core.version_params import INPUT_NAME, PARAMS_FILENAME, read_params, repository_versions
from local_stack.derive import DEFAULT_NUM_THREADS
from local_stack.errors import LocalStackError
from local_stack.platform_stack import PlatformStack, submit_example, write_example_request
from local_stack.stack import LocalStack
from local_stack.triton_server import TritonPorts

_EXAMPLE_WINDOW = 8
"""Points in the example request when the version's params.json does not give its window."""


def register(subparsers: Any) -> None:
    """Add the ``triton`` and ``up`` sub-commands."""
    help_text = "Serve the canonical model repository with the local tritonserver (CPU)."
    parser = subparsers.add_parser("triton", help=help_text, description=help_text)
    _add_arguments(parser)
    parser.set_defaults(handler=run)
    help_text = (
        "Run the whole local platform in the foreground: Triton, Redis, Kafka (Tansu), "
        "workers and the API; Ctrl-C or SIGTERM stops everything."
    )
    parser = subparsers.add_parser("up", help=help_text, description=help_text)
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (default: 1)")
    parser.add_argument("--worker-concurrency", type=int, help="threads per worker (default: settings)")
    parser.add_argument(
        "--tritons",
        type=_positive,
        default=1,
        help="Triton replicas (default: 1); replica k listens on HTTP 8000+10k, gRPC 8001+10k, "
        "metrics 8002+10k",
    )
    parser.set_defaults(handler=run_up)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", type=Path, help="canonical repository (default: settings)")
    parser.add_argument("--model", dest="models", action="append", help="load only this model (repeatable)")
    parser.add_argument("--host", default="127.0.0.1", help="address Triton binds (default: %(default)s)")
    parser.add_argument("--http-port", type=int, help="default: HYBRID_TRITON_HTTP_PORT or 8000")
    parser.add_argument("--grpc-port", type=int, help="default: HYBRID_TRITON_GRPC_PORT or 8001")
    parser.add_argument("--metrics-port", type=int, help="default: HYBRID_TRITON_METRICS_PORT or 8002")
    parser.add_argument(
        "--num-threads", type=int, default=DEFAULT_NUM_THREADS, help="CPU threads per model instance"
    )


def run(args: argparse.Namespace) -> int:
    """Start the stack, print how to reach it, and run until Ctrl-C or SIGTERM."""
    settings = get_settings()
    defaults = TritonPorts.from_settings(settings)
    ports = TritonPorts(
        http=args.http_port or defaults.http,
        grpc=args.grpc_port or defaults.grpc,
        metrics=args.metrics_port or defaults.metrics,
    )
    stack = LocalStack(
        settings,
        repository=args.repository,
        models=args.models,
        ports=ports,
        host=args.host,
        num_threads=args.num_threads,
        die_with_launcher=True,
    )

    def serve() -> str:
        started = time.monotonic()
        with stack:
            _print_ready(stack, time.monotonic() - started)
            code = stack.wait()
        return f"tritonserver exited on its own with code {code}; log: {stack.triton.log_path}"

    return _in_foreground(serve)


def _in_foreground(serve: Callable[[], str]) -> int:
    """Run ``serve`` until Ctrl-C or SIGTERM (exit 0) or until a component exits by itself (exit 1).

    ``serve`` returns the message saying which component exited.
    """
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(serve(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    except LocalStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # The first signal starts a clean stop; a second one would cut that stop short and
    # orphan tritonserver (it runs in its own session), so further signals are ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _print_ready(stack: LocalStack, elapsed_s: float) -> None:
    triton = stack.triton
    print(
        f"Triton ready in {elapsed_s:.1f} s: http {triton.http_url}, grpc {triton.grpc_url}, "
        f"metrics {triton.metrics_url}\nlog: {triton.log_path}"
    )
    formats = {model.name: model.artifact_format for model in stack.derived}
    ready = triton.ready_models()
    for name, versions in ready.items():
        print(f"  {name}: versions {', '.join(versions)} ({formats.get(name, '?')})")
    if ready:
        name, versions = next(iter(ready.items()))
        window = _example_window(stack.repository / name / versions[-1] / PARAMS_FILENAME)
        body = {
            "inputs": [{"name": INPUT_NAME, "shape": [1, window], "datatype": "FP32", "data": [1.0] * window}]
        }
        base = f"{triton.http_url}/v2/models/{name}"
        print("Try:")
        print(f"  curl -s -o /dev/null -w '%{{http_code}}\\n' {base}/ready")
        print(f"  curl -s {base}/versions/{versions[-1]}/infer -d '{json.dumps(body)}'")
    print("Ctrl-C stops it.", flush=True)


def _example_window(params_file: Path) -> int:
    try:
        return read_params(params_file).window
    except (OSError, ValidationError):
        return _EXAMPLE_WINDOW


def run_up(args: argparse.Namespace) -> int:
    """Start the platform, serve one example forecast, print how to call it, run until stopped."""
    settings = get_settings()
    stack = PlatformStack(
        settings, workers=args.workers, worker_concurrency=args.worker_concurrency, tritons=args.tritons
    )

    def serve() -> str:
        started = time.monotonic()
        with stack:
            print(f"platform ready in {time.monotonic() - started:.1f} s; logs in {stack.logs_dir}")
            _print_replicas(stack)
            _print_platform_example(stack)
            stack.supervise(lambda line: print(line, file=sys.stderr, flush=True))
        return "stopped"

    return _in_foreground(serve)


def _print_replicas(stack: PlatformStack) -> None:
    for index, server in enumerate(stack.triton.tritons):
        print(
            f"Triton replica {index}: grpc {server.grpc_url}, http {server.http_url}, "
            f"metrics {server.metrics_url}, pid {server.pid}, log {server.log_path}"
        )


def _print_platform_example(stack: PlatformStack) -> None:
    model = "lstm_timeseries"
    versions = repository_versions(stack.settings.model_repository, model)
    window = read_params(stack.settings.model_repository / model / versions[-1] / PARAMS_FILENAME).window
    body = write_example_request(stack.settings.state_dir / "example-request.json", model, window)
    settings = stack.settings
    view = submit_example(stack.api_url, body, token=settings.admin_token)
    forecasts = view.get("forecasts") or [{}]
    mean = forecasts[0].get("mean", [])
    print(
        f"example job {view.get('job_id')}: {view.get('status')} on {model} v{view.get('version')} "
        f"in {float(view['_elapsed_s']) * 1000:.0f} ms; next weeks: {[round(v, 2) for v in mean[:4]]} ..."
    )
    api = stack.api_url
    print("Try it (API docs at " + api + "/docs):")
    print(
        f"  JOB=$(curl -s -X POST {api}/v1/jobs -H 'content-type: application/json' -d @{body} "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"job_id\"])')"
    )
    print(f'  curl -s "{api}/v1/jobs/$JOB?wait_s=10"')
    print(f"  curl -s {api}/v1/models")
    if settings.auth == "off":
        print("API keys: off (HYBRID_AUTH=required turns them on; jobs belong to the tenant 'public')")
    else:
        print('API keys: required; add -H "Authorization: Bearer $KEY" (hybrid-inference keys create)')
    if stack.prometheus is not None:
        print(f"Prometheus UI: {stack.prometheus.url} (scrapes Triton, the API and the workers)")
    else:
        print("Prometheus: not installed (apt-get install -y prometheus) - metrics still at /metrics")
    kafka = stack.env["HYBRID_KAFKA_BOOTSTRAP_SERVERS"]
    print("Watch the job events:")
    print(f"  HYBRID_KAFKA_BOOTSTRAP_SERVERS={kafka} .venv/bin/hybrid-inference events --follow")
    print("Ctrl-C stops everything.", flush=True)

"""``hybrid-inference bench``: start a private stack, run every configuration, write the reports.

The last stdout line is one JSON object: per configuration and concurrency ``rps``, ``p50_ms``,
``p99_ms``, ``server_cpu_ms_per_req`` and ``triton_avg_batch`` (null without Triton), and the
bulk ``hybrid_series_per_s`` / ``triton_series_per_s``. ``--quick`` runs every configuration,
as the full run does, with shorter windows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import report, sweep_cli
from benchmarks.environment import BenchStack, StackOptions
from benchmarks.progress import Progress
from benchmarks.runner import BULK_CONFIGS, CONFIG_NAMES, Plan, Runner
from benchmarks.workloads import build_inputs
from hybrid_core.settings import PROJECT_ROOT, get_settings
from hybrid_core.version_params import load_version_params, repository_versions

DEFAULT_MODEL = "lstm_timeseries"
DEFAULT_OUT = PROJECT_ROOT / "benchmarks" / "results"
DISTINCT_INPUTS = 512


@dataclass(frozen=True)
class Timing:
    duration_s: float
    warmup_s: float


FULL = Timing(duration_s=20.0, warmup_s=3.0)
QUICK = Timing(duration_s=2.5, warmup_s=1.0)
SWEEP = Timing(duration_s=5.0, warmup_s=2.0)
"""Per load of each sweep point: the default grid (12 points x 3 loads) then takes about 10 min here."""


def parse_concurrency(text: str) -> list[int]:
    """``"1,16,64"`` -> ``[1, 16, 64]`` (``+`` also separates, for ``--configs name@1+64``)."""
    values = [int(part) for part in text.replace("+", ",").split(",") if part.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_configs(text: str, default: list[int]) -> list[tuple[str, list[int]]]:
    """``"triton,hybrid@64"`` -> ``[("triton", default), ("hybrid", [64])]``."""
    plan = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, levels = item.partition("@")
        if name not in CONFIG_NAMES:
            raise argparse.ArgumentTypeError(
                f"unknown configuration {name!r}; known: {', '.join(CONFIG_NAMES)}"
            )
        plan.append((name, parse_concurrency(levels) if levels else list(default)))
    return plan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench", help="benchmark the seed, baseline, hybrid, sync and raw-Triton paths", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke benchmark)")
    parser.add_argument("--duration-s", type=float, default=None, help="measured seconds per point")
    parser.add_argument("--warmup-s", type=float, default=None, help="unmeasured seconds before each point")
    parser.add_argument("--concurrency", default="1,16,64", help="closed-loop users, e.g. 1,16,64")
    parser.add_argument(
        "--configs", default=",".join(CONFIG_NAMES), help="configurations, e.g. triton,hybrid@64"
    )
    parser.add_argument("--bulk-series", type=int, default=10_000, help="series of the bulk job (0: none)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the JSON/markdown/PNG")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--version", default=None, help="pinned version (default: the newest)")
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    parser.add_argument("--triton-threads", type=int, default=1, help="intra-op threads of Triton's model")
    parser.add_argument(
        "--worker-concurrency", type=int, default=None, help="threads of the thin worker (default: settings)"
    )
    parser.add_argument(
        "--baseline-processes",
        type=int,
        default=None,
        help="prefork children of the baseline and seed workers (default: cores)",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where Triton runs the model"
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="keep logs and state here")
    sweep_cli.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    timing = QUICK if args.quick else FULL
    versions = repository_versions(settings.model_repository, args.model)
    if not versions:
        print(f"error: {args.model} has no version in {settings.model_repository}", file=sys.stderr)
        return 2
    version = args.version or versions[-1]
    params = load_version_params(settings.model_repository, args.model, version)
    if args.sweep:
        timing_s = (
            args.duration_s or SWEEP.duration_s,
            args.warmup_s if args.warmup_s is not None else SWEEP.warmup_s,
        )
        return sweep_cli.run(args, canonical=settings.model_repository, version=version, timing_s=timing_s)
    plan = Plan(
        points=parse_configs(args.configs, parse_concurrency(args.concurrency)),
        duration_s=args.duration_s or timing.duration_s,
        warmup_s=args.warmup_s if args.warmup_s is not None else timing.warmup_s,
        bulk_series=args.bulk_series,
        bulk_batch_size=settings.infer_batch_size,
        bulk_concurrency=settings.worker_infer_threads,
    )
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="hybrid-bench-"))
    stack_options = StackOptions(
        canonical=settings.model_repository,
        state_dir=state_dir,
        model=args.model,
        version=version,
        database=args.database,
        triton_threads=args.triton_threads,
        device=args.device,
        worker_concurrency=args.worker_concurrency or settings.worker_concurrency,
        **({"baseline_processes": args.baseline_processes} if args.baseline_processes else {}),
    )
    runs = sum(len(levels) for _, levels in plan.points)
    runs += sum(1 for name, _ in plan.points if plan.bulk_series and name in BULK_CONFIGS)
    progress = Progress(runs)
    try:
        progress.note("starting Redis, the database, Triton and the API")
        with BenchStack(stack_options) as stack:
            inputs = build_inputs(settings.model_repository, args.model, version, DISTINCT_INPUTS)
            outcome = asyncio.run(Runner(stack, inputs, plan, progress).run())
            progress.note("stopping")
    finally:
        progress.close()
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    options = {**asdict(plan), **asdict(stack_options), "canonical": str(stack_options.canonical)}
    options.update(window=params.window, horizon=params.horizon)
    options["state_dir"] = str(stack_options.state_dir)
    command = "hybrid-inference bench " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else [])
    args.out.mkdir(parents=True, exist_ok=True)
    document = report.to_json(outcome, command=command.strip(), options=options)
    (args.out / report.JSON_NAME).write_text(json.dumps(document, indent=2) + "\n")
    table = report.markdown(outcome)
    (args.out / report.MARKDOWN_NAME).write_text(table)
    subtitle = f"{args.model} v{version} (window {params.window}, horizon {params.horizon})"
    report.plot(outcome, args.out / report.PLOT_NAME, subtitle)
    print(table)
    print(f"results in {args.out}", file=sys.stderr)
    print(json.dumps(report.summary(outcome)))
    return 0

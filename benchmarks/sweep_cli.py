"""The ``--sweep`` mode of ``hybrid-inference bench``: options, run, and its three outputs.

Writes ``sweep.json`` (every point and load, the grid, the chosen point), ``sweep.md`` (the
table) and ``best-cpu-config.pbtxt`` (the canonical model's config with the chosen settings, made
through the typed spec, with ``KIND_CPU``) into ``--out``. The last stdout line is one JSON
object: ``{"best": {...}, "points": N}``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks.sweep import BatchingPoint, PointOutcome, SweepGrid, choose_best, finite, run_sweep
from benchmarks.workloads import build_inputs
from export_scripts.triton_config import (
    CONFIG_FILENAME,
    TritonModelSpec,
    build_model_config,
    read_model_config,
    render_model_config,
)

JSON_NAME = "sweep.json"
MARKDOWN_NAME = "sweep.md"
CONFIG_NAME = "best-cpu-config.pbtxt"
DISTINCT_INPUTS = 512


def _ints(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def _preferred(text: str) -> tuple[tuple[int, ...], ...]:
    """``"none;16,32,64,128"`` -> ``((), (16, 32, 64, 128))``."""
    return tuple(() if part.strip() == "none" else _ints(part) for part in text.split(";") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's options of ``hybrid-inference bench``."""
    default = SweepGrid()
    group = parser.add_argument_group("sweep (--sweep): raw Triton over a grid of batching settings")
    group.add_argument("--sweep", action="store_true", help="run the Triton config sweep instead")
    group.add_argument("--sweep-instances", type=_ints, default=default.instance_counts, help="e.g. 1,2")
    group.add_argument(
        "--sweep-preferred",
        type=_preferred,
        default=default.preferred_batch_sizes,
        help='preferred batch size lists separated by ";", e.g. "none;16,32,64,128"',
    )
    group.add_argument(
        "--sweep-delays-us", type=_ints, default=default.max_queue_delays_us, help="e.g. 0,1000,5000"
    )
    group.add_argument(
        "--sweep-p99-budget-ms", type=float, default=default.p99_budget_ms, help="p99 bound of the choice"
    )


def _level_row(outcome: PointOutcome) -> list[str]:
    point = outcome.point
    cells = []
    for level in outcome.levels:
        avg = f"{level.triton_avg_batch:.1f}" if level.triton_avg_batch is not None else "-"
        cells.append(
            f"| {point.instance_count} | {'/'.join(map(str, point.preferred_batch_sizes)) or 'none'} "
            f"| {point.max_queue_delay_us} | {level.concurrency} | {level.summary.rps:,.1f} "
            f"| {level.summary.p50_ms:.2f} | {level.summary.p99_ms:.2f} | {level.summary.errors} | {avg} |"
        )
    return cells


def markdown(outcomes: list[PointOutcome], best: PointOutcome | None, grid: SweepGrid) -> str:
    """The sweep's table and the chosen point."""
    lines = [
        "| instances | preferred batch sizes | max queue delay us | conc. | req/s | p50 ms | p99 ms "
        "| errors | Triton avg batch |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for outcome in outcomes:
        lines.extend(_level_row(outcome))
    lines.append("")
    if best is None:
        lines.append("No point was measured.")
    else:
        lines.append(
            f"Chosen (highest req/s at c={grid.concurrency[-1]} with p99 <= {grid.p99_budget_ms:g} ms "
            f"and no errors at every load): **{best.point.label}**, "
            f"{best.top_rps:,.1f} req/s, p99 {best.levels[-1].summary.p99_ms:.2f} ms."
        )
    return "\n".join(lines) + "\n"


def best_config_text(canonical: Path, model: str, point: BatchingPoint) -> str:
    """The canonical model's config with ``point``'s settings on CPU, built from the typed spec."""
    current = read_model_config(canonical / model / CONFIG_FILENAME)
    policy = current.dynamic_batching.default_queue_policy
    spec = TritonModelSpec(
        name=current.name,
        platform=current.platform,
        versions=tuple(current.version_policy.specific.versions),
        horizon=int(current.output[0].dims[0]),
        max_batch_size=current.max_batch_size,
        max_queue_size=policy.max_queue_size,
        queue_timeout_us=policy.default_timeout_microseconds,
        instance_kind="KIND_CPU",
    )
    spec = replace(
        spec,
        preferred_batch_sizes=point.preferred_batch_sizes,
        max_queue_delay_us=point.max_queue_delay_us,
        instance_count=point.instance_count,
    )
    return render_model_config(build_model_config(spec))


def _document(outcomes: list[PointOutcome], best: PointOutcome | None, grid: SweepGrid, command: str) -> Any:
    def point_json(outcome: PointOutcome) -> dict[str, Any]:
        return {
            **asdict(outcome.point),
            "levels": [
                {
                    "concurrency": level.concurrency,
                    "rps": level.summary.rps,
                    "p50_ms": finite(level.summary.p50_ms),
                    "p99_ms": finite(level.summary.p99_ms),
                    "errors": level.summary.errors,
                    "triton_avg_batch": level.triton_avg_batch,
                    "error_samples": level.error_samples,
                }
                for level in outcome.levels
            ],
        }

    return {
        "command": command,
        "grid": asdict(grid),
        "points": [point_json(o) for o in outcomes],
        "best": point_json(best) if best is not None else None,
    }


def run(args: argparse.Namespace, *, canonical: Path, version: str, timing_s: tuple[float, float]) -> int:
    """Run the sweep of ``args`` and write its outputs; 0 when a point was chosen."""
    duration_s, warmup_s = timing_s
    grid = SweepGrid(
        instance_counts=args.sweep_instances,
        preferred_batch_sizes=args.sweep_preferred,
        max_queue_delays_us=args.sweep_delays_us,
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        duration_s=duration_s,
        warmup_s=warmup_s,
        p99_budget_ms=args.sweep_p99_budget_ms,
    )
    inputs = build_inputs(canonical, args.model, version, DISTINCT_INPUTS)
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="hybrid-sweep-"))
    total = len(grid.points())

    command = "hybrid-inference bench " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else [])
    done: list[PointOutcome] = []

    def report(outcome: PointOutcome) -> None:
        done.append(outcome)
        top = outcome.levels[-1].summary
        print(
            f"sweep: {outcome.point.label}: c={outcome.levels[-1].concurrency} {top.rps:.1f} req/s "
            f"p99 {top.p99_ms:.1f} ms ({len(done)}/{total})",
            file=sys.stderr,
            flush=True,
        )
        # Written after every point: a run cut short still leaves what it measured.
        write_outputs(args.out, done, grid, command.strip(), canonical, args.model)

    try:
        run_sweep(
            canonical,
            state_dir,
            model=args.model,
            version=version,
            inputs=inputs,
            grid=grid,
            triton_threads=args.triton_threads,
            device=args.device,
            on_point=report,
        )
    finally:
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    document = write_outputs(args.out, done, grid, command.strip(), canonical, args.model)
    print(json.dumps({"best": document["best"], "points": len(done)}))
    return 0 if document["best"] is not None else 1


def write_outputs(
    out: Path, outcomes: list[PointOutcome], grid: SweepGrid, command: str, canonical: Path, model: str
) -> Any:
    """Write ``sweep.json``, ``sweep.md`` and (once a point is chosen) the best config; the JSON."""
    best = choose_best(outcomes, grid.p99_budget_ms)
    out.mkdir(parents=True, exist_ok=True)
    document = _document(outcomes, best, grid, command)
    (out / JSON_NAME).write_text(json.dumps(document, indent=2) + "\n")
    (out / MARKDOWN_NAME).write_text(markdown(outcomes, best, grid))
    if best is not None:
        (out / CONFIG_NAME).write_text(best_config_text(canonical, model, best.point))
    return document

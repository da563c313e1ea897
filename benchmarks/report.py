"""The benchmark's outputs: ``results.json``, ``results.md`` (tables) and ``results.png`` (plot)."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.environment import PROCESS_KIND, SEED_API
from benchmarks.meter import DATABASE, LOADGEN, OTHER
from benchmarks.runner import SPECS, Outcome, PointResult

JSON_NAME = "results.json"
MARKDOWN_NAME = "results.md"
PLOT_NAME = "results.png"
WORKER_KINDS = tuple(PROCESS_KIND.values())
"""Process kinds whose peak RSS is the table's "worker RSS" (one runs per configuration)."""
PROCESS_KINDS = (SEED_API, "api", *WORKER_KINDS, "triton", "redis", DATABASE, LOADGEN, OTHER)


def _clean(value: Any) -> Any:
    """NaN/inf -> None and floats rounded, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory and accelerator of this machine."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_gib, 1),
        "accelerator": "CPU only" if not Path("/dev/nvidia0").exists() else "NVIDIA GPU present",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def server_cpu_ms_per_request(point: PointResult) -> float:
    """CPU of every measured server process (all but the load generator and ``other``) per answer.

    NaN when nothing answered in the window.
    """
    server_s = sum(v for k, v in point.reading.cpu_s.items() if k not in (LOADGEN, OTHER))
    return server_s / point.summary.requests * 1000 if point.summary.requests else math.nan


def worker_rss_mib(point: PointResult) -> float | None:
    """Peak RSS of the configuration's worker kind, None when it has none."""
    rss = point.reading.peak_rss_mib
    return next((rss[kind] for kind in WORKER_KINDS if kind in rss), None)


def summary(outcome: Outcome) -> dict[str, Any]:
    """The compact per-configuration figures (the last stdout line of a run)."""
    result: dict[str, Any] = {}
    for point in outcome.points:
        result.setdefault(point.config, {})[str(point.concurrency)] = {
            "rps": point.summary.rps,
            "p50_ms": point.summary.p50_ms,
            "p99_ms": point.summary.p99_ms,
            "server_cpu_ms_per_req": server_cpu_ms_per_request(point),
            "triton_avg_batch": point.reading.triton_avg_batch,
        }
    rates = {bulk.config: bulk.series_per_s for bulk in outcome.bulk}
    if rates:
        result["bulk"] = {
            "hybrid_series_per_s": rates.get("hybrid", math.nan),
            "triton_series_per_s": rates.get("triton", math.nan),
        }
    cleaned: dict[str, Any] = _clean(result)
    return cleaned


def to_json(outcome: Outcome, *, command: str, options: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, with the machine and the exact command."""
    points = [
        {
            "config": p.config,
            "concurrency": p.concurrency,
            **asdict(p.summary),
            "triton_avg_batch": p.reading.triton_avg_batch,
            "cpu_s": p.reading.cpu_s,
            "peak_rss_mib": p.reading.peak_rss_mib,
            "error_samples": p.error_samples,
        }
        for p in outcome.points
    ]
    bulk = [
        {
            "config": b.config,
            "series": b.series,
            "elapsed_s": b.elapsed_s,
            "series_per_s": b.series_per_s,
            "triton_avg_batch": b.reading.triton_avg_batch,
            "cpu_s": b.reading.cpu_s,
            "peak_rss_mib": b.reading.peak_rss_mib,
            "stages_s": b.stages_s,
        }
        for b in outcome.bulk
    ]
    document = {
        "machine": machine(),
        "command": command,
        "options": options,
        "configs": {name: spec.description for name, spec in SPECS.items()},
        "points": points,
        "bulk": bulk,
        "summary": summary(outcome),
    }
    cleaned: dict[str, Any] = _clean(document)
    return cleaned


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def markdown(outcome: Outcome) -> str:
    """Latency/throughput table, resource table and the bulk table."""
    lines = [
        "| config | conc. | req/s | p50 ms | p95 ms | p99 ms | errors | Triton avg batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in outcome.points:
        s = p.summary
        lines.append(
            f"| {p.config} | {p.concurrency} | {_fmt(s.rps)} | {_fmt(s.p50_ms, 2)} | {_fmt(s.p95_ms, 2)} "
            f"| {_fmt(s.p99_ms, 2)} | {s.errors} | {_fmt(p.reading.triton_avg_batch, 2)} |"
        )
    kinds = [k for k in PROCESS_KINDS if any(k in p.reading.cpu_s for p in outcome.points)]
    lines += [
        "",
        "CPU seconds per process kind during each measured window, server CPU per request, "
        "and peak RSS (VmHWM, summed over each process tree) of the worker kind:",
        "",
        "| config | conc. | "
        + " | ".join(f"CPU s {k}" for k in kinds)
        + " | server CPU ms/req | worker RSS MiB |",
        "|---|---:|" + "---:|" * (len(kinds) + 2),
    ]
    for p in outcome.points:
        cells = " | ".join(_fmt(p.reading.cpu_s.get(k), 2) for k in kinds)
        per_request, rss = server_cpu_ms_per_request(p), worker_rss_mib(p)
        lines.append(f"| {p.config} | {p.concurrency} | {cells} | {_fmt(per_request, 2)} | {_fmt(rss, 0)} |")
    if outcome.bulk:
        lines += [
            "",
            "| bulk | series | seconds | series/s | Triton avg batch | stages (s) |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for b in outcome.bulk:
            stages = ", ".join(f"{k.removesuffix('_s')} {v:.2f}" for k, v in b.stages_s.items()) or "-"
            lines.append(
                f"| {b.config} | {b.series} | {_fmt(b.elapsed_s, 2)} | {_fmt(b.series_per_s, 0)} "
                f"| {_fmt(b.reading.triton_avg_batch, 2)} | {stages} |"
            )
    return "\n".join(lines) + "\n"


def plot(outcome: Outcome, path: Path, subtitle: str = "") -> None:
    """Latency percentiles and throughput per configuration against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(dict.fromkeys(p.config for p in outcome.points))
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(13, 5))
    for config in configs:
        points = sorted((p for p in outcome.points if p.config == config), key=lambda p: p.concurrency)
        xs = [p.concurrency for p in points]
        line = latency.plot(xs, [p.summary.p50_ms for p in points], marker="o", label=f"{config} p50")[0]
        p99 = [p.summary.p99_ms for p in points]
        latency.plot(xs, p99, marker="x", linestyle="--", color=line.get_color(), label=f"{config} p99")
        throughput.plot(xs, [p.summary.rps for p in points], marker="o", color=line.get_color(), label=config)
    levels = sorted({p.concurrency for p in outcome.points})
    for axis in (latency, throughput):
        axis.set_xscale("log", base=2)
        axis.set_xticks(levels, [str(level) for level in levels])
        axis.set_xlabel("closed-loop concurrency")
        axis.grid(True, which="both", alpha=0.3)
    latency.set_yscale("log")
    latency.set_ylabel("latency (ms)")
    latency.set_title("Latency p50 (solid) / p99 (dashed)")
    latency.legend(fontsize=7, ncol=2)
    throughput.set_ylabel("requests/s (one series each)")
    throughput.set_title("Throughput")
    throughput.legend(fontsize=8)
    info = machine()
    figure.suptitle(f"{info['cpus']} cores, {info['accelerator']}" + (f" - {subtitle}" if subtitle else ""))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)

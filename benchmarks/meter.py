"""Counters read around a measured window: CPU and peak memory per process kind, Triton's batches."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from benchmarks import procstats
from benchmarks.prometheus import Sample, average_batch_size, parse_metrics

LOADGEN = "loadgen"
"""This process: the load generator (its CPU only, never its children's)."""
DATABASE = "database"
"""The PostgreSQL backends serving the benchmark's database (their title names it)."""
OTHER = "other"
"""Busy CPU of the machine not used by any kind above: other work that disturbed the run."""


def scrape(url: str, timeout_s: float = 5.0) -> dict[Sample, float]:
    """Triton's metrics now (empty when they cannot be read)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return parse_metrics(answer.read().decode())
    except OSError:
        return {}


@dataclass
class Reading:
    """What changed over one window."""

    cpu_s: dict[str, float]
    peak_rss_mib: dict[str, float]
    triton_avg_batch: float | None


@dataclass
class Meter:
    """Snapshot at ``start()``, difference at ``stop()``.

    ``roots`` gives the root pids of each process kind (children count with their root).
    """

    roots: Callable[[], Mapping[str, list[int]]]
    metrics_url: str | None
    triton_model: str | None
    database_name: str | None = None
    _cpu: dict[str, dict[int, float]] = field(default_factory=dict)
    _metrics: dict[Sample, float] = field(default_factory=dict)

    def _members(self, table: Mapping[int, procstats.ProcStat]) -> dict[str, set[int]]:
        members = {kind: procstats.tree(pids, table) for kind, pids in self.roots().items()}
        if self.database_name:
            members[DATABASE] = set(procstats.with_cmdline(f" {self.database_name} ", table))
        return members

    def _cpu_now(self) -> dict[str, dict[int, float]]:
        table = procstats.process_table()
        cpu = {
            kind: {pid: procstats.cpu_seconds([pid], table) for pid in pids}
            for kind, pids in self._members(table).items()
        }
        cpu[LOADGEN] = {0: time.process_time()}
        cpu[OTHER] = {0: procstats.machine_busy_seconds()}
        return cpu

    async def start(self) -> None:
        self._cpu = await asyncio.to_thread(self._cpu_now)
        if self.metrics_url and self.triton_model:
            self._metrics = await asyncio.to_thread(scrape, self.metrics_url)

    async def stop(self) -> Reading:
        cpu = await asyncio.to_thread(self._cpu_now)
        batch = None
        if self.metrics_url and self.triton_model:
            after = await asyncio.to_thread(scrape, self.metrics_url)
            batch = average_batch_size(self._metrics, after, self.triton_model)
        table = procstats.process_table()
        rss = {kind: procstats.peak_rss_mib(pids) for kind, pids in self._members(table).items()}
        rss[LOADGEN] = procstats.peak_rss_mib([os.getpid()])
        # Per process: a process that started in the window counts whole, one that exited in it
        # (a PostgreSQL backend closing) is lost rather than turning the difference negative.
        used = {
            kind: sum(ticks - self._cpu.get(kind, {}).get(pid, 0.0) for pid, ticks in pids.items())
            for kind, pids in cpu.items()
        }
        # The kinds never include this process, so the machine's rest is "other".
        used[OTHER] = max(0.0, used[OTHER] - sum(v for k, v in used.items() if k != OTHER))
        return Reading(
            cpu_s=used,
            peak_rss_mib=rss,
            triton_avg_batch=batch,
        )

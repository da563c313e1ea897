"""CPU time and peak memory of process trees, read from ``/proc`` (Linux).

CPU of a tree is utime+stime of every live member plus cutime+cstime (its reaped children),
so a child that exits between two samples moves its time to its parent and is not lost.
Peak memory is ``VmHWM`` (the high-water mark of the resident set) summed over the tree.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` a benchmark needs."""

    pid: int
    comm: str
    ppid: int
    cpu_ticks: int
    """utime + stime + cutime + cstime."""


def parse_stat(text: str) -> ProcStat:
    """Parse ``/proc/<pid>/stat``: ``pid (comm) state ppid ...``; comm may hold spaces and parens."""
    head, _, tail = text.rpartition(")")
    pid_text, _, comm = head.partition(" (")
    fields = tail.split()
    # fields[0] is field 3 (state): utime..cstime are fields 14..17.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    ticks = utime + stime + cutime + cstime
    return ProcStat(pid=int(pid_text), comm=comm, ppid=int(fields[1]), cpu_ticks=ticks)


def parse_vmhwm_kib(status_text: str) -> int | None:
    """``VmHWM`` in KiB from ``/proc/<pid>/status``; None for kernel threads and zombies."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def process_table(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every process readable now (those that exit while being read are skipped)."""
    table: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = parse_stat((entry / "stat").read_text())
            table[stat.pid] = stat
    return table


def tree(roots: Iterable[int], table: Mapping[int, ProcStat]) -> set[int]:
    """``roots`` and all their live descendants."""
    children: dict[int, list[int]] = {}
    for stat in table.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    members: set[int] = set()
    pending = [pid for pid in roots if pid in table]
    while pending:
        pid = pending.pop()
        if pid not in members:
            members.add(pid)
            pending.extend(children.get(pid, ()))
    return members


def with_cmdline(fragment: str, table: Mapping[int, ProcStat], proc: Path = PROC) -> list[int]:
    """Pids whose command line holds ``fragment`` (PostgreSQL backends show their database there)."""
    found = []
    for pid in table:
        with contextlib.suppress(OSError):
            if fragment in (proc / str(pid) / "cmdline").read_bytes().decode(errors="replace"):
                found.append(pid)
    return found


def cpu_seconds(members: Iterable[int], table: Mapping[int, ProcStat]) -> float:
    """CPU seconds used so far by ``members`` (and their reaped children)."""
    return sum(table[pid].cpu_ticks for pid in members if pid in table) / CLOCK_TICKS_PER_S


def peak_rss_mib(members: Iterable[int], proc: Path = PROC) -> float:
    """Sum of ``VmHWM`` over ``members``, in MiB."""
    total_kib = 0
    for pid in members:
        with contextlib.suppress(OSError, ValueError):
            total_kib += parse_vmhwm_kib((proc / str(pid) / "status").read_text()) or 0
    return total_kib / 1024


def parse_machine_busy_ticks(stat_text: str) -> int:
    """Busy ticks of all CPUs from ``/proc/stat`` (user+nice+system+irq+softirq+steal)."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
            return user + nice + system + irq + softirq + steal
    raise ValueError("no aggregate cpu line in /proc/stat")


def machine_busy_seconds(proc: Path = PROC) -> float:
    """CPU seconds every process of the machine has used since boot."""
    return parse_machine_busy_ticks((proc / "stat").read_text()) / CLOCK_TICKS_PER_S

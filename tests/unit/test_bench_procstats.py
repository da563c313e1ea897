"""``/proc`` parsing of the benchmark's CPU and memory accounting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks import procstats

# Fields 14..17 (utime, stime, cutime, cstime) are 100, 20, 3, 4.
STAT = "4242 (python3 (worker) x) S 4200 4242 4242 0 -1 4194560 2000 0 0 0 100 20 3 4 20 0 9 0 123 456 789"
STATUS = "Name:\tpython3\nVmPeak:\t  300000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"


def test_parse_stat_reads_pid_ppid_and_cpu_when_comm_holds_spaces_and_parens() -> None:
    stat = procstats.parse_stat(STAT)
    assert stat.pid == 4242
    assert stat.comm == "python3 (worker) x"
    assert stat.ppid == 4200
    assert stat.cpu_ticks == 127


def test_parse_vmhwm_reads_kib_and_is_none_without_the_line() -> None:
    assert procstats.parse_vmhwm_kib(STATUS) == 123456
    assert procstats.parse_vmhwm_kib("Name:\tkthreadd\nState:\tS\n") is None


def test_parse_machine_busy_ticks_leaves_idle_and_iowait_out() -> None:
    text = "cpu  10 1 5 1000 7 2 3 4 0 0\ncpu0 5 0 2 500 3 1 1 2 0 0\nintr 1 2 3\n"
    assert procstats.parse_machine_busy_ticks(text) == 10 + 1 + 5 + 2 + 3 + 4


def test_parse_machine_busy_ticks_refuses_text_without_the_cpu_line() -> None:
    with pytest.raises(ValueError):
        procstats.parse_machine_busy_ticks("intr 1\n")


def _stat(pid: int, ppid: int, ticks: int = 0, comm: str = "p") -> procstats.ProcStat:
    return procstats.ProcStat(pid=pid, comm=comm, ppid=ppid, cpu_ticks=ticks)


def test_tree_holds_the_roots_and_every_descendant_only() -> None:
    table = {p.pid: p for p in (_stat(1, 0), _stat(10, 1), _stat(11, 10), _stat(12, 11), _stat(20, 1))}
    assert procstats.tree([10], table) == {10, 11, 12}
    assert procstats.tree([10, 20, 999], table) == {10, 11, 12, 20}


def test_cpu_seconds_sums_the_members_in_seconds() -> None:
    tick = procstats.CLOCK_TICKS_PER_S
    table = {p.pid: p for p in (_stat(1, 0, ticks=tick), _stat(2, 1, ticks=3 * tick))}
    assert procstats.cpu_seconds({1, 2, 77}, table) == pytest.approx(4.0)


def test_peak_rss_sums_vmhwm_over_members_from_a_proc_tree(tmp_path: Path) -> None:
    for pid, kib in ((1, 1024), (2, 2048)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "status").write_text(f"Name:\tx\nVmHWM:\t{kib} kB\n")
    (tmp_path / "3").mkdir()  # a kernel thread: no VmHWM line
    (tmp_path / "3" / "status").write_text("Name:\tkthread\n")
    assert procstats.peak_rss_mib([1, 2, 3, 4], proc=tmp_path) == pytest.approx(3.0)


def test_process_table_and_cmdline_lookup_read_a_proc_tree(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()  # not a pid: skipped
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "stat").write_text("7 (postgres) S 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1")
    (tmp_path / "7" / "cmdline").write_bytes(
        b"postgres: 15/main: postgres hybrid_bench_ab 127.0.0.1(5) idle\0"
    )
    table = procstats.process_table(tmp_path)
    assert list(table) == [7]
    assert procstats.with_cmdline(" hybrid_bench_ab ", table, proc=tmp_path) == [7]
    assert procstats.with_cmdline(" other_db ", table, proc=tmp_path) == []


def test_process_table_sees_this_process_on_linux() -> None:
    table = procstats.process_table()
    assert table[os.getpid()].ppid == os.getppid()

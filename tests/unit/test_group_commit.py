"""Group commit: concurrent submissions share writes; each caller sees its own write's fate."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from job_store.group_commit import GroupCommit
from local_stack.waiting import wait_until


class Writer:
    """Records each write; the first one blocks until released, as a slow commit would."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.writes: list[list[str]] = []
        self.writers: list[int] = []
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: Sequence[str]) -> None:
        self.writers.append(threading.get_ident())
        if not self.writes:
            self.writes.append(list(items))
            self.release.wait(timeout=5)
        else:
            self.writes.append(list(items))
        if self.fail_on in items:
            raise ConnectionError("database down")


def test_group_commit_writes_alone_at_once_when_no_one_else_submits() -> None:
    writer = Writer()
    writer.release.set()
    GroupCommit(writer).submit("a")
    assert writer.writes == [["a"]]


def test_group_commit_shares_one_write_when_submissions_arrive_during_a_commit() -> None:
    writer = Writer()
    commits = GroupCommit(writer)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(commits.submit, "first")
        wait_until(lambda: len(writer.writes) == 1, timeout_s=5, message="first write started")
        rest = [pool.submit(commits.submit, f"j{i}") for i in range(8)]
        wait_until(lambda: commits.waiting() == 8, timeout_s=5, message="eight waiting")
        writer.release.set()
        for done in [first, *rest]:
            done.result(timeout=5)
    assert writer.writes[0] == ["first"]
    assert sorted(writer.writes[1]) == sorted(f"j{i}" for i in range(8))
    assert len(writer.writes) == 2
    # The first leader wrote one group only; a waiting caller wrote the next.
    assert writer.writers[0] != writer.writers[1]


def test_group_commit_raises_in_every_caller_of_a_failed_write() -> None:
    writer = Writer(fail_on="bad")
    writer.release.set()
    commits = GroupCommit(writer)
    with pytest.raises(ConnectionError):
        commits.submit("bad")
    commits.submit("good")  # the next write is not affected
    assert writer.writes == [["bad"], ["good"]]

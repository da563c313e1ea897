"""Group commit on the event loop: concurrent submissions share writes; each caller sees its own
write's fate, and the loop never runs a write itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from operation_server.group_commit import GroupCommit


class Writer:
    """Records each write and its thread; the first one blocks until released, as a slow commit would."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.writes: list[list[str]] = []
        self.threads: list[int] = []
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.threads.append(threading.get_ident())
        self.writes.append(list(items))
        if len(self.writes) == 1:
            self.release.wait(timeout=5)
        if self.fail_on in items:
            raise ConnectionError("database down")
        return [f"{item}:written" for item in items]


async def _until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.001)


def test_group_commit_writes_alone_at_once_off_the_loop_when_no_one_else_submits() -> None:
    writer = Writer()
    writer.release.set()

    async def run() -> tuple[str, int]:
        return await GroupCommit(writer).submit("a"), threading.get_ident()

    result, loop_thread = asyncio.run(run())
    assert result == "a:written"
    assert writer.writes == [["a"]]
    assert writer.threads[0] != loop_thread


def test_group_commit_shares_one_write_when_submissions_arrive_during_a_commit() -> None:
    writer = Writer()

    async def run() -> list[str]:
        commits: GroupCommit[str, str] = GroupCommit(writer)
        first = asyncio.create_task(commits.submit("first"))
        await _until(lambda: len(writer.writes) == 1)
        rest = [asyncio.create_task(commits.submit(f"j{i}")) for i in range(8)]
        await _until(lambda: commits.waiting() == 8)
        writer.release.set()
        return await asyncio.gather(first, *rest)

    results = asyncio.run(run())
    assert results == ["first:written", *(f"j{i}:written" for i in range(8))]
    assert writer.writes == [["first"], [f"j{i}" for i in range(8)]]


def test_group_commit_splits_groups_at_max_items() -> None:
    writer = Writer()

    async def run() -> None:
        commits: GroupCommit[str, str] = GroupCommit(writer, max_items=3)
        first = asyncio.create_task(commits.submit("first"))
        await _until(lambda: len(writer.writes) == 1)
        rest = [asyncio.create_task(commits.submit(f"j{i}")) for i in range(7)]
        await _until(lambda: commits.waiting() == 7)
        writer.release.set()
        await asyncio.gather(first, *rest)

    asyncio.run(run())
    assert [len(write) for write in writer.writes] == [1, 3, 3, 1]


def test_group_commit_raises_in_every_caller_of_a_failed_write_only() -> None:
    writer = Writer(fail_on="bad")

    async def run() -> tuple[list[str | BaseException], str]:
        commits: GroupCommit[str, str] = GroupCommit(writer)
        first = asyncio.create_task(commits.submit("first"))
        await _until(lambda: len(writer.writes) == 1)
        group = [asyncio.create_task(commits.submit(name)) for name in ("bad", "mate")]
        await _until(lambda: commits.waiting() == 2)
        writer.release.set()
        outcomes = await asyncio.gather(first, *group, return_exceptions=True)
        return outcomes, await commits.submit("good")  # the next write is not affected

    outcomes, later = asyncio.run(run())
    assert outcomes[0] == "first:written"
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes[1:])
    assert later == "good:written"


def test_group_commit_writes_an_item_whose_caller_was_cancelled() -> None:
    writer = Writer()

    async def run() -> None:
        commits: GroupCommit[str, str] = GroupCommit(writer)
        first = asyncio.create_task(commits.submit("first"))
        await _until(lambda: len(writer.writes) == 1)
        gone = asyncio.create_task(commits.submit("gone"))
        await _until(lambda: commits.waiting() == 1)
        gone.cancel()
        writer.release.set()
        assert await first == "first:written"
        with pytest.raises(asyncio.CancelledError):
            await gone
        await _until(lambda: len(writer.writes) == 2)

    asyncio.run(run())
    # A caller that went away (its client hung up) does not take its job back out of the group.
    assert writer.writes == [["first"], ["gone"]]

"""A closed-loop load generator on asyncio: ``concurrency`` users, each sending its next request
as soon as the previous one answered, for a warm-up and then a measured window.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

Request = Callable[[int], Awaitable[None]]
"""Send request number ``index`` and wait for its answer; raise on any failure."""
Hook = Callable[[], Awaitable[None]]

MAX_ERROR_SAMPLES = 5


@dataclass
class LoadResult:
    """Latencies (s) of the requests that started inside the measured window, and its length."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)


async def closed_loop(
    users: Sequence[Request],
    *,
    duration_s: float,
    warmup_s: float,
    on_measure_start: Hook | None = None,
    on_answer: Callable[[], None] | None = None,
) -> LoadResult:
    """Run one user per entry of ``users`` until ``warmup_s + duration_s`` have passed.

    ``on_measure_start`` runs once when the measured window opens (snapshot counters there).
    The window closes when the last request started inside it has answered.
    """
    result = LoadResult()
    counter = itertools.count()
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + warmup_s
    stop_at = measure_from + duration_s
    last_answer = measure_from

    async def user(send: Request) -> None:
        nonlocal last_answer
        while (started := loop.time()) < stop_at:
            try:
                await send(next(counter))
            except Exception as exc:
                if started >= measure_from:
                    result.errors += 1
                    if len(result.error_samples) < MAX_ERROR_SAMPLES:
                        result.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            finished = loop.time()
            if started >= measure_from:
                result.latencies_s.append(finished - started)
                last_answer = max(last_answer, finished)
            if on_answer is not None:
                on_answer()

    async def open_window() -> None:
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        if on_measure_start is not None:
            await on_measure_start()

    await asyncio.gather(open_window(), *(user(send) for send in users))
    result.elapsed_s = max(last_answer, stop_at) - measure_from if result.latencies_s else duration_s
    return result


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    """Seconds ``action`` took (for one-shot workloads such as a bulk job)."""
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started

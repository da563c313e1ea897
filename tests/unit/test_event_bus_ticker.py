"""The relay's background thread: runs at start, on wake, and survives errors (no broker)."""

from __future__ import annotations

import threading

import pytest

from event_bus._ticker import Ticker
from local_stack.waiting import wait_until

LONG_INTERVAL_S = 60.0


class _Counter:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls = 0
        self._fail_first = fail_first
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.calls += 1
            if self.calls <= self._fail_first:
                raise RuntimeError("boom")


def test_ticker_runs_once_when_started() -> None:
    work = _Counter()
    ticker = Ticker(work, interval_s=LONG_INTERVAL_S, name="test")

    ticker.start()

    wait_until(lambda: work.calls == 1, timeout_s=5, message="first run")
    assert ticker.stop(timeout_s=5)
    assert work.calls == 1


def test_ticker_runs_again_when_woken() -> None:
    work = _Counter()
    ticker = Ticker(work, interval_s=LONG_INTERVAL_S, name="test")
    ticker.start()
    wait_until(lambda: work.calls == 1, timeout_s=5, message="first run")

    ticker.wake()

    wait_until(lambda: work.calls == 2, timeout_s=5, message="run after wake")
    assert ticker.stop(timeout_s=5)


def test_ticker_runs_every_interval_when_not_woken() -> None:
    work = _Counter()
    ticker = Ticker(work, interval_s=0.01, name="test")

    ticker.start()

    wait_until(lambda: work.calls >= 3, timeout_s=5, message="periodic runs")
    assert ticker.stop(timeout_s=5)


def test_ticker_keeps_running_when_work_raises(caplog: pytest.LogCaptureFixture) -> None:
    work = _Counter(fail_first=1)
    ticker = Ticker(work, interval_s=LONG_INTERVAL_S, name="test")
    ticker.start()
    wait_until(lambda: work.calls == 1, timeout_s=5, message="failed run")

    ticker.wake()

    wait_until(lambda: work.calls == 2, timeout_s=5, message="run after failure")
    assert ticker.stop(timeout_s=5)
    assert "run failed" in caplog.text


def test_ticker_stop_returns_true_when_never_started() -> None:
    assert Ticker(_Counter(), interval_s=1.0, name="test").stop()


def test_ticker_refuses_when_interval_is_not_positive() -> None:
    with pytest.raises(ValueError):
        Ticker(_Counter(), interval_s=0, name="test")

"""A tqdm progress bar over the benchmark's runs, with the answers of the current run."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

REFRESH_S = 0.5


class Progress:
    """One step per run (a configuration at one concurrency, or a bulk job)."""

    def __init__(self, runs: int) -> None:
        self._bar = tqdm(total=runs, unit="run", file=sys.stderr, dynamic_ncols=True, desc="bench")
        self._answers = 0
        self._shown_at = 0.0

    def note(self, text: str) -> None:
        """Show ``text`` beside the bar (what is starting, what runs)."""
        self._bar.set_postfix_str(text, refresh=True)

    def answered(self, label: str) -> None:
        """One more answer in the current run; the display refreshes at most every 0.5 s."""
        self._answers += 1
        now = time.monotonic()
        if now - self._shown_at >= REFRESH_S:
            self._shown_at = now
            self.note(f"{label}: {self._answers} answers")

    def run_done(self) -> None:
        self._answers = 0
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

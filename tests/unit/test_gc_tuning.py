"""settle_heap: a serving process's startup objects leave the collector's reach, young passes get rarer."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import gc
from hybrid_core.gc_tuning import YOUNG_THRESHOLD, settle_heap

before = gc.get_threshold()
kept = [object() for _ in range(1000)]  # long-lived, as a process's clients and pools are
settle_heap()
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2]), gc.get_threshold()

class Cycle:
    pass

cycle = Cycle()
cycle.self = cycle
del cycle
assert gc.collect() >= 1  # cycles made after it are still collected
"""


def test_settle_heap_freezes_startup_objects_and_still_collects_later_cycles() -> None:
    # In a child: freezing and thresholds are process-wide and must not leak into the test run.
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr

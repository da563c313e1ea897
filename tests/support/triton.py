"""A tritonserver of a test module's own, stopped quickly once the module is done with it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from local_stack.testing import running_triton
from local_stack.triton_server import LocalTritonServer
from triton_client.control import ControlKey

TEARDOWN_STOP_TIMEOUT_S = 1.0
"""How long teardown waits after SIGTERM before ``stop()`` SIGKILLs the server's process group (and
sweeps its shared memory), instead of the ~5 s the Python-backend stubs take to unload on a
2-core machine. A graceful stop is what test_local_triton tests; the fixtures here only clean up."""


def stop_quickly_at_teardown(server: LocalTritonServer) -> None:
    """Set ``server`` to stop with a short SIGTERM grace, for a fixture's teardown."""
    server.stop_timeout_s = TEARDOWN_STOP_TIMEOUT_S


@contextlib.contextmanager
def module_triton(
    canonical: Path,
    state_dir: Path,
    *,
    models: Sequence[str] | None = None,
    control_key: ControlKey | None = None,
) -> Iterator[LocalTritonServer]:
    """``running_triton``, whose stop at the end of the block is quick (a test's own stops are not)."""
    with running_triton(canonical, state_dir, models=models, control_key=control_key) as server:
        yield server
        stop_quickly_at_teardown(server)

"""The start/stop contract every local component follows, and its context-manager form."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self


class Service:
    """A component with idempotent ``start()`` and ``stop()``; ``with`` starts and always stops it.

    A ``start()`` that fails half-way is followed by ``stop()``, so nothing it launched is left behind.
    """

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

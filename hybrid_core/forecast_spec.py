"""What a request asks for beyond its values: the horizon, extra bands, and each series' id and time axis.

The API builds it once, when it validates the request; the job stores it next to its series
(``job_inputs.spec``), and the worker and the sync path post-process with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hybrid_core.time_axis import SeriesAxis


@dataclass(frozen=True)
class ForecastSpec:
    """The horizon, the levels (percent) and quantiles asked, and per series its id and axis (or None)."""

    horizon: int
    levels: tuple[float, ...] = ()
    quantiles: tuple[float, ...] = ()
    ids: tuple[str | None, ...] | None = None
    axes: tuple[SeriesAxis | None, ...] | None = None

    def part(self, start: int, stop: int) -> ForecastSpec:
        """The spec of series ``start`` to ``stop``."""
        return replace(
            self,
            ids=None if self.ids is None else self.ids[start:stop],
            axes=None if self.axes is None else self.axes[start:stop],
        )

    def series_id(self, index: int) -> str | None:
        """The id of series ``index``, if it has one."""
        return None if self.ids is None else self.ids[index]

    def to_json(self) -> dict[str, Any] | None:
        """The stored form (None when the request asked nothing beyond the horizon)."""
        if not (self.levels or self.quantiles or self.ids or self.axes):
            return None
        return {
            "levels": list(self.levels),
            "quantiles": list(self.quantiles),
            "ids": None if self.ids is None else list(self.ids),
            "axes": None if self.axes is None else [None if a is None else a.as_list() for a in self.axes],
        }

    def result_meta(self, direct_steps: int | None) -> dict[str, Any] | None:
        """What a stored result keeps to answer in full again: ids, axes, ``direct_steps`` (None: nothing)."""
        if self.ids is None and self.axes is None and direct_steps is None:
            return None
        stored = self.to_json() or {}
        return {"ids": stored.get("ids"), "axes": stored.get("axes"), "direct_steps": direct_steps}

    @classmethod
    def from_json(cls, horizon: int, stored: dict[str, Any] | None) -> ForecastSpec:
        """Read :meth:`to_json`'s form back."""
        if not stored:
            return cls(horizon=horizon)
        axes: Sequence[Any] | None = stored.get("axes")
        return cls(
            horizon=horizon,
            levels=tuple(stored.get("levels") or ()),
            quantiles=tuple(stored.get("quantiles") or ()),
            ids=None if stored.get("ids") is None else tuple(stored["ids"]),
            axes=None if axes is None else tuple(None if a is None else SeriesAxis(*a) for a in axes),
        )

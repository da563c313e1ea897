"""The verdict of one artifact under one runtime, and the table check-compat prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

TOLERANCE = 1e-5
"""Largest |runtime - reference| accepted: the exporter's own tolerance against the eager model."""

Verdict = Literal["pass", "FAIL"]


@dataclass(frozen=True)
class CompatRow:
    """One artifact run by one runtime: its max |diff| to the reference, or why it did not run."""

    artifact: str
    runtime: str
    version: str
    max_abs_diff: float | None
    error: str | None = None


def verdict(row: CompatRow, tolerance: float = TOLERANCE) -> Verdict:
    """pass only when it ran and every output is within ``tolerance`` (NaN and inf fail)."""
    if row.error is not None or row.max_abs_diff is None:
        return "FAIL"
    return "pass" if row.max_abs_diff <= tolerance else "FAIL"


def exit_status(rows: Sequence[CompatRow], tolerance: float = TOLERANCE) -> int:
    """0 when there are rows and all pass, 1 otherwise (an empty check proves nothing)."""
    if not rows:
        return 1
    return 0 if all(verdict(row, tolerance) == "pass" for row in rows) else 1


def format_table(rows: Sequence[CompatRow], tolerance: float = TOLERANCE) -> str:
    """Columns artifact, runtime, version, max abs diff, verdict; each error on a line below its row."""
    header = ("artifact", "runtime", "version", "max abs diff", "verdict")
    cells = [
        (
            row.artifact,
            row.runtime,
            row.version,
            "-" if row.max_abs_diff is None else f"{row.max_abs_diff:.3e}",
            verdict(row, tolerance),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(header, widths, strict=True)).rstrip()]
    for row, line in zip(rows, cells, strict=True):
        lines.append("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())
        if row.error is not None:
            lines.extend(f"    {text}" for text in row.error.strip().splitlines())
        elif verdict(row, tolerance) == "FAIL":
            lines.append(f"    max |diff| above the tolerance {tolerance:.0e}")
    return "\n".join(lines)

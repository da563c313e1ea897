"""check-compat's verdicts, exit status, table and comparison, on hand-made rows and arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from export_scripts.compat.check import max_abs_diff
from export_scripts.compat.table import TOLERANCE, CompatRow, exit_status, format_table, verdict


def row(diff: float | None, error: str | None = None) -> CompatRow:
    return CompatRow("lstm_timeseries/1/model.pt", "torch", "2.5.1", diff, error)


def test_verdict_passes_when_diff_within_tolerance() -> None:
    assert verdict(row(0.0)) == "pass"
    assert verdict(row(TOLERANCE)) == "pass"


@pytest.mark.parametrize("diff", [2e-5, math.inf, math.nan])
def test_verdict_fails_when_diff_above_tolerance_or_not_finite(diff: float) -> None:
    assert verdict(row(diff)) == "FAIL"


def test_verdict_fails_when_runtime_raised() -> None:
    assert verdict(row(None, "RuntimeError: Unknown builtin op: aten::foo")) == "FAIL"


def test_verdict_uses_given_tolerance_when_one_is_passed() -> None:
    assert verdict(row(2e-5), tolerance=1e-4) == "pass"


def test_exit_status_is_zero_when_every_row_passes() -> None:
    assert exit_status([row(0.0), row(3e-6)]) == 0


def test_exit_status_is_one_when_any_row_fails() -> None:
    assert exit_status([row(0.0), row(None, "load failed")]) == 1


def test_exit_status_is_one_when_there_are_no_rows() -> None:
    assert exit_status([]) == 1


def test_format_table_lists_columns_and_error_lines_when_a_row_failed() -> None:
    rows = [
        row(1.5e-7),
        CompatRow(
            "m_onnx/1/model.onnx", "onnxruntime", "1.19.2", None, "Fail: IR version: 11\nsecond line\n"
        ),
        row(0.5),
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["artifact", "runtime", "version", "max", "abs", "diff", "verdict"]
    assert lines[1].split() == ["lstm_timeseries/1/model.pt", "torch", "2.5.1", "1.500e-07", "pass"]
    assert lines[2].split() == ["m_onnx/1/model.onnx", "onnxruntime", "1.19.2", "-", "FAIL"]
    assert lines[3:5] == ["    Fail: IR version: 11", "    second line"]
    assert lines[5].split()[-1] == "FAIL"
    assert lines[6] == "    max |diff| above the tolerance 1e-05"
    assert len(lines) == 7
    # columns line up: every verdict starts where the header's does
    assert {line.index(line.split()[-1]) for line in lines[:3]} == {lines[0].index("verdict")}


def test_max_abs_diff_covers_every_output_when_batch_and_single_given() -> None:
    reference = {"": np.zeros((3, 2), np.float32), "::single": np.zeros((1, 2), np.float32)}
    produced = {"a0": np.full((3, 2), 1e-6, np.float32), "a0::single": np.full((1, 2), -4e-6, np.float32)}
    assert max_abs_diff(reference, produced, "a0") == pytest.approx(4e-6)


def test_max_abs_diff_is_infinite_when_shape_differs_or_output_missing() -> None:
    reference = {"": np.zeros((3, 2), np.float32), "::single": np.zeros((1, 2), np.float32)}
    assert max_abs_diff(reference, {"a0": np.zeros((3, 2), np.float32)}, "a0") == math.inf
    wrong = {"a0": np.zeros((3, 2), np.float32), "a0::single": np.zeros((3, 2), np.float32)}
    assert max_abs_diff(reference, wrong, "a0") == math.inf


def test_max_abs_diff_is_nan_when_output_has_nan() -> None:
    reference = {"": np.zeros((2, 2), np.float32)}
    produced = {"a0": np.array([[0.0, np.nan], [0.0, 0.0]], np.float32)}
    assert math.isnan(max_abs_diff(reference, produced, "a0"))

"""Packed series: what the worker reads back is what the client sent, gaps included."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from hybrid_core.errors import InvalidInput
from hybrid_core.processing import fill_missing
from hybrid_core.series_codec import (
    forecast_arrays,
    npz_bytes,
    pack_forecasts,
    pack_series,
    unpack_forecasts,
    unpack_series,
)


def test_unpack_series_returns_each_series_when_lengths_differ() -> None:
    series: list[list[float | None]] = [[1.5, None, 3.25], [4.0, 5.0]]

    unpacked = unpack_series(pack_series(series))

    assert [len(values) for values in unpacked] == [3, 2]
    assert unpacked[0][0] == 1.5 and math.isnan(unpacked[0][1]) and unpacked[0][2] == 3.25
    assert unpacked[1].tolist() == [4.0, 5.0]


def test_unpack_series_returns_float32_rows_when_lengths_equal() -> None:
    series = [[float(i + j) for j in range(200)] for i in range(50)]

    unpacked = unpack_series(pack_series(series))

    assert all(values.dtype == np.float32 for values in unpacked)
    np.testing.assert_array_equal(np.stack(unpacked), np.array(series, dtype=np.float32))


def test_unpack_series_returns_nothing_when_packed_empty() -> None:
    assert unpack_series(pack_series([])) == []


def test_unpack_series_reads_each_job_when_jobs_share_a_header_and_when_written_as_npy_2_0() -> None:
    first, second = [[1.0, 2.0, 3.0]], [[7.0, None, 9.0]]  # equal headers: parsed once, cached
    assert unpack_series(pack_series(first))[0].tolist() == [1.0, 2.0, 3.0]
    assert unpack_series(pack_series(second))[0][2] == 9.0

    buffer = io.BytesIO()  # a version 2.0 header (4-byte length), as np.save writes for huge headers
    np.lib.format.write_array(buffer, np.array([2, 1]), version=(2, 0))  # type: ignore[no-untyped-call]
    np.lib.format.write_array(  # type: ignore[no-untyped-call]
        buffer, np.array([4.0, 5.0, 6.0], dtype=np.float32), version=(2, 0)
    )
    assert [values.tolist() for values in unpack_series(buffer.getvalue())] == [[4.0, 5.0], [6.0]]


def test_unpack_series_refuses_object_arrays_when_bytes_hold_a_pickle() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([1]))
    np.save(buffer, np.array([{"not": "numbers"}], dtype=object), allow_pickle=True)

    with pytest.raises(ValueError, match="numbers only"):
        unpack_series(buffer.getvalue())


def test_fill_missing_treats_nan_of_a_stored_series_as_missing() -> None:
    stored = unpack_series(pack_series([[1.0, None, 3.0]]))[0]

    assert fill_missing(stored, "series[0]").tolist() == fill_missing([1.0, None, 3.0], "series[0]").tolist()


def test_fill_missing_refuses_nan_when_a_client_list_holds_it() -> None:
    with pytest.raises(InvalidInput) as raised:
        fill_missing([1.0, math.nan, 3.0], "series[2]")

    assert raised.value.field == "series[2]"


def test_unpack_forecasts_returns_the_same_floats_when_packed() -> None:
    forecasts = [
        {"mean": [0.1, 1 / 3], "lower": [-2.5e-7, 0.2], "upper": [371.70066620475336, 1e300]},
        {"mean": [5.0, 6.0], "lower": [4.0, 5.0], "upper": [6.0, 7.0]},
    ]

    assert unpack_forecasts(pack_forecasts(forecasts)) == forecasts


def test_unpack_forecasts_returns_nothing_when_none_packed() -> None:
    assert unpack_forecasts(pack_forecasts([])) == []


def test_forecast_arrays_name_bands_as_the_client_columns_when_levels_and_quantiles_packed() -> None:
    forecasts = [
        {
            "mean": [1.0, 2.0],
            "lower": [0.0, 1.0],
            "upper": [2.0, 3.0],
            "intervals": {"80": {"lower": [0.5, 1.5], "upper": [1.5, 2.5]}},
            "quantiles": {"0.1": [0.4, 1.4]},
        }
    ]

    arrays = forecast_arrays(pack_forecasts(forecasts))

    assert list(arrays) == ["mean", "lower", "upper", "lo-80", "hi-80", "q-0.1"]
    assert arrays["hi-80"].tolist() == [[1.5, 2.5]] and arrays["q-0.1"].tolist() == [[0.4, 1.4]]


def test_npz_bytes_read_back_without_pickle_when_strings_and_floats() -> None:
    arrays = {"mean": np.arange(6, dtype=np.float64).reshape(2, 3), "id": np.array(["a", ""])}

    loaded = np.load(io.BytesIO(npz_bytes(arrays)), allow_pickle=False)

    assert sorted(loaded.files) == ["id", "mean"]
    np.testing.assert_array_equal(loaded["mean"], arrays["mean"])
    assert loaded["id"].tolist() == ["a", ""]

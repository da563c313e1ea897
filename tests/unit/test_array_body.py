"""Array job bodies (``.npz``): reading the archive and validating its series, naming the array element."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest

from hybrid_core.errors import HybridError, InvalidInput, PayloadTooLarge
from hybrid_core.schemas import ForecastRequest
from hybrid_core.settings import Settings
from operation_server.array_body import ArrayJobOptions, ArrayRequest, read_array_request
from operation_server.validation import validate_arrays, validate_request
from tests.unit.test_forecasting import PARAMS

SETTINGS = Settings(max_series_per_job=3, max_series_length=10)
OPTIONS = ArrayJobOptions(model="m")
NAN = np.nan


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read(body: bytes, options: ArrayJobOptions = OPTIONS) -> ArrayRequest:
    return read_array_request(body, options, SETTINGS)


def test_read_gives_float32_rows_cut_to_their_lengths_when_lengths_given() -> None:
    values = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]], dtype=np.int64)
    request = read(npz(values=values, lengths=np.array([5, 4])))

    rows = request.all_values()
    assert [row.dtype for row in rows] == [np.float32, np.float32]
    assert [row.tolist() for row in rows] == [[1, 2, 3, 4, 5], [6, 7, 8, 9]]


def test_read_accepts_a_compressed_archive() -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, values=np.ones((2, 4)))
    assert read(buffer.getvalue()).series_count == 2


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        (b"not a zip", InvalidInput, "body"),
        (npz(lengths=np.array([4])), InvalidInput, "values"),
        (npz(values=np.ones((1, 4)), extra=np.ones(1)), InvalidInput, "extra"),
        (npz(values=np.ones(4)), InvalidInput, "values"),
        (npz(values=np.ones((0, 4))), InvalidInput, "values"),
        (npz(values=np.array([["a"] * 4])), InvalidInput, "values"),
        (npz(values=np.ones((4, 4))), PayloadTooLarge, "values"),
        (npz(values=np.ones((1, 11))), InvalidInput, "values"),
        (npz(values=np.ones((2, 4)), lengths=np.array([4])), InvalidInput, "lengths"),
        (npz(values=np.ones((2, 4)), lengths=np.array([4.0, 4.0])), InvalidInput, "lengths"),
        (npz(values=np.ones((2, 4)), lengths=np.array([4, 5])), InvalidInput, "lengths[1]"),
        (npz(values=np.ones((2, 4)), lengths=np.array([0, 4])), InvalidInput, "lengths[0]"),
        (npz(values=np.ones((2, 4)), id=np.array([1, 2])), InvalidInput, "id"),
        (npz(values=np.ones((2, 4)), id=np.array(["a"])), InvalidInput, "id"),
        (npz(values=np.ones((1, 4)), id=np.array(["x" * 257])), InvalidInput, "id"),
        (
            npz(values=np.ones((1, 4)), id=np.array(["a"]), start=np.array(["2024-01-01"])),
            InvalidInput,
            "start",
        ),
        (npz(values=np.ones((1, 4)), start=np.array(["2024-01-01"])), InvalidInput, "start"),
    ],
)
def test_read_names_the_array_when_the_archive_is_invalid(
    body: bytes, error: type[HybridError], field: str
) -> None:
    with pytest.raises(error) as raised:
        read(body)
    assert raised.value.field == field


def test_read_refuses_an_object_array_without_unpickling_it() -> None:
    with pytest.raises(InvalidInput) as raised:
        read(npz(values=np.ones((1, 4)), id=np.array([{"a": 1}], dtype=object)))
    assert raised.value.field == "id"


def test_read_refuses_an_array_whose_data_is_shorter_than_its_header() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("values.npy", npz_member(np.ones((2, 4)))[:-8])
    with pytest.raises(InvalidInput) as raised:
        read(buffer.getvalue())
    assert raised.value.field == "values"


def npz_member(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_read_refuses_freq_without_a_start_array() -> None:
    with pytest.raises(InvalidInput) as raised:
        read(npz(values=np.ones((1, 4))), ArrayJobOptions(model="m", freq="D"))
    assert raised.value.field == "freq"


@pytest.mark.parametrize(
    ("values", "lengths", "field"),
    [
        ([[1.0, 1.0, 1.0, NAN, NAN]], [3], "values[0]"),
        ([[1.0] * 4, [1.0, 1.0, 1.0, NAN]], None, None),
        ([[1.0] * 4, [1.0, 1.0, np.inf, 1.0]], None, "values[1][2]"),
        ([[1.0, 1.0, 1.0, 1.0, -np.inf]], [4], None),
        ([[1.0, NAN, NAN, NAN, NAN]], None, "values[0]"),
        ([[1.0, NAN, NAN, NAN, NAN, 9.0]], [5], "values[0]"),
        ([[NAN, 1.0, NAN, NAN, NAN]], None, None),
    ],
)
def test_validate_arrays_names_the_element_when_a_series_is_invalid(
    values: list[list[float]], lengths: list[int] | None, field: str | None
) -> None:
    arrays: dict[str, Any] = {"values": np.array(values)}
    if lengths is not None:
        arrays["lengths"] = np.array(lengths)
    request = read(npz(**arrays))
    if field is None:
        assert validate_arrays(request, PARAMS, SETTINGS).horizon == PARAMS.horizon
        return
    with pytest.raises(InvalidInput) as raised:
        validate_arrays(request, PARAMS, SETTINGS)
    assert raised.value.field == field


def test_validate_arrays_names_the_second_of_two_equal_ids() -> None:
    request = read(npz(values=np.ones((3, 4)), id=np.array(["b", "a", "b"])))
    with pytest.raises(InvalidInput) as raised:
        validate_arrays(request, PARAMS, SETTINGS)
    assert raised.value.field == "id[2]"
    assert "repeats id[0]" in raised.value.message


def test_validate_arrays_refuses_an_empty_id() -> None:
    request = read(npz(values=np.ones((2, 4)), id=np.array(["a", ""])))
    with pytest.raises(InvalidInput) as raised:
        validate_arrays(request, PARAMS, SETTINGS)
    assert raised.value.field == "id[1]"


def test_validate_arrays_gives_the_json_bodys_spec_when_series_are_named_and_dated() -> None:
    starts = ["2024-01-01", "2024-02-01"]
    body = npz(
        values=np.ones((2, 5)), lengths=np.array([5, 4]), id=np.array(["a", "b"]), start=np.array(starts)
    )
    options = ArrayJobOptions(model="m", freq="D", horizon=2)
    named = [
        {"id": "a", "values": [1.0] * 5, "start": starts[0], "freq": "D"},
        {"id": "b", "values": [1.0] * 4, "start": starts[1], "freq": "D"},
    ]
    as_json = ForecastRequest(model="m", series=named, horizon=2)

    assert validate_arrays(read(body, options), PARAMS, SETTINGS) == validate_request(
        as_json, PARAMS, SETTINGS
    )


def test_validate_arrays_names_the_start_that_is_off_the_frequency() -> None:
    body = npz(values=np.ones((2, 4)), id=np.array(["a", "b"]), start=np.array(["2024-01-06", "2024-01-02"]))
    with pytest.raises(InvalidInput) as raised:
        validate_arrays(read(body, ArrayJobOptions(model="m", freq="W-SAT")), PARAMS, SETTINGS)
    assert raised.value.field == "start[1]"


def test_validate_arrays_refuses_a_horizon_past_the_versions() -> None:
    request = read(npz(values=np.ones((1, 4))), ArrayJobOptions(model="m", horizon=PARAMS.max_horizon + 1))
    with pytest.raises(InvalidInput) as raised:
        validate_arrays(request, PARAMS, SETTINGS)
    assert raised.value.field == "horizon"

"""The one boundary that turns tritonclient failures into our retryable/permanent types."""

from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException

from hybrid_core.errors import HybridError
from triton_client.errors import (
    TritonDeadlineExceeded,
    TritonInferenceFailed,
    TritonModelNotFound,
    TritonRejected,
    TritonUnavailable,
    translate,
    triton_errors,
)


@pytest.mark.parametrize(
    ("status", "expected", "retryable"),
    [
        ("StatusCode.UNAVAILABLE", TritonUnavailable, True),
        ("StatusCode.DEADLINE_EXCEEDED", TritonDeadlineExceeded, True),
        ("StatusCode.RESOURCE_EXHAUSTED", TritonUnavailable, True),
        ("StatusCode.NOT_FOUND", TritonModelNotFound, False),
        ("StatusCode.INVALID_ARGUMENT", TritonRejected, False),
        ("StatusCode.INTERNAL", TritonInferenceFailed, False),
        (None, TritonRejected, False),
    ],
)
def test_translate_maps_status_when_triton_fails(
    status: str | None, expected: type[HybridError], retryable: bool
) -> None:
    error = translate(InferenceServerException(msg="boom", status=status))
    assert type(error) is expected
    assert error.retryable is retryable
    assert "boom" in error.message


def test_triton_errors_chains_original_when_translating() -> None:
    original = InferenceServerException(msg="down", status="StatusCode.UNAVAILABLE")
    with pytest.raises(TritonUnavailable) as raised, triton_errors():
        raise original
    assert raised.value.__cause__ is original


def test_triton_errors_lets_other_exceptions_through_when_not_triton() -> None:
    with pytest.raises(KeyError), triton_errors():
        raise KeyError("x")

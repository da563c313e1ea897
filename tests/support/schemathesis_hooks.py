"""schemathesis hooks for the contract test (loaded through ``SCHEMATHESIS_HOOKS``).

schemathesis cannot build an ``application/x-npz`` body by itself. It gets archives of every kind
an array job may meet: well-formed ones, wrong shapes and dtypes, unknown and missing arrays,
infinities and NaN, object arrays, and bytes that are no archive at all.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import schemathesis
from hypothesis import strategies as st

NAMES = st.sampled_from(["values", "lengths", "id", "start", "other"])
ARRAYS: st.SearchStrategy[Any] = st.one_of(
    st.builds(
        lambda rows, points, fill: np.full((rows, points), fill),
        st.integers(0, 3),
        st.integers(0, 300),
        st.sampled_from([1.5, 0.0, np.nan, np.inf, -1e39]),
    ),
    st.lists(st.integers(-5, 400), max_size=4).map(np.array),
    st.lists(st.text(max_size=12), max_size=4).map(np.array),
    st.lists(st.floats(allow_nan=True), max_size=4).map(lambda xs: np.array(xs, dtype=object)),
)


def _archive(arrays: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


NPZ_BODIES = st.one_of(
    st.dictionaries(NAMES, ARRAYS, max_size=4).map(_archive),
    st.binary(max_size=64),
)

schemathesis.openapi.media_type("application/x-npz", NPZ_BODIES)

"""In-process TorchScript for the benchmark's CPU workers (``baseline`` and ``seed``).

Both load each model once per prefork child, after the fork, with one intra-op thread: one
process per core does the parallelism, and OpenMP threads would only fight over the cores.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

Forward = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
PRELOAD_ENV = "HYBRID_BENCH_PRELOAD"
"""``model:version[,model:version...]`` each child loads right after the fork."""


def load_forward(path: Path) -> Forward:
    """A TorchScript model on CPU with one intra-op thread (one process per core does the rest)."""
    import torch

    torch.set_num_threads(1)
    module = torch.jit.load(str(path), map_location="cpu").eval()  # type: ignore[no-untyped-call]

    def forward(batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        with torch.inference_mode():
            result: npt.NDArray[np.float32] = module(torch.from_numpy(batch)).numpy()
        return result

    return forward


def preload_list(text: str) -> list[tuple[str, str]]:
    """``"a:1,b:2"`` -> ``[("a", "1"), ("b", "2")]``."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        model, _, version = item.partition(":")
        if not model or not version:
            raise ValueError(f"expected model:version, got {item!r}")
        pairs.append((model, version))
    return pairs

"""Hyper-parameters of an LSTM version, importable without torch (the CLI builds its parser from them)."""

from __future__ import annotations

from dataclasses import dataclass

from export_scripts.data import HORIZON


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of one LSTM version; recorded in its ``params.json``."""

    window: int = 104
    seed: int = 1
    epochs: int = 8
    hidden: int = 128
    layers: int = 2
    lr: float = 1e-3
    batch_size: int = 16
    max_grad_norm: float = 1.0
    num_threads: int = 1
    """One thread: the weights do not depend on the machine's core count (they change with the
    thread count), and on two shared cores one thread trained faster than two."""
    horizon: int = HORIZON

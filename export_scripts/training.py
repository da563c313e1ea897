"""Seeded, deterministic CPU training of the LSTM forecaster."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from export_scripts.data import Windows
from export_scripts.hyperparameters import TrainingConfig
from export_scripts.model import LSTMForecaster


@dataclass(frozen=True)
class TrainedModel:
    """The trained module (eval mode) and what training cost."""

    model: LSTMForecaster
    training_s: float
    final_loss: float


def make_deterministic(seed: int, num_threads: int) -> None:
    """Seed torch and numpy, fix the thread count and ask for deterministic kernels."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(num_threads)
    # warn_only: an op without a deterministic CPU kernel should warn, not abort a long export.
    torch.use_deterministic_algorithms(True, warn_only=True)


def train_lstm(windows: Windows, config: TrainingConfig, progress: bool = True) -> TrainedModel:
    """Fit an LSTM on normalized windows with Adam, cosine-decayed learning rate and MSE loss."""
    make_deterministic(config.seed, config.num_threads)
    model = LSTMForecaster(hidden=config.hidden, layers=config.layers, horizon=config.horizon)
    inputs = torch.from_numpy(windows.inputs)
    targets = torch.from_numpy(windows.targets)
    batches_per_epoch = -(-len(inputs) // config.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * batches_per_epoch)
    shuffler = torch.Generator().manual_seed(config.seed)
    loss_fn = nn.MSELoss()
    epoch_loss = float("nan")
    started = time.perf_counter()
    model.train()
    epochs = tqdm(range(config.epochs), desc=f"lstm w={config.window}", unit="epoch", disable=not progress)
    for _ in epochs:
        order = torch.randperm(len(inputs), generator=shuffler)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(inputs[batch]), targets[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        epoch_loss = total / len(inputs)
        epochs.set_postfix(mse=f"{epoch_loss:.4f}")
    model.eval()
    return TrainedModel(model=model, training_s=time.perf_counter() - started, final_loss=epoch_loss)

"""The forecasting modules: FP32 ``[batch, window]`` normalized in, ``[batch, horizon]`` out."""

from __future__ import annotations

import torch
from torch import nn

from export_scripts.data import HORIZON


class LSTMForecaster(nn.Module):
    """Stacked LSTM over the window; a linear head maps the last hidden state to the horizon."""

    def __init__(self, hidden: int = 128, layers: int = 2, horizon: int = HORIZON) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(inputs.unsqueeze(-1))
        return self.head(sequence[:, -1, :])  # type: ignore[no-any-return]


class MovingAverageForecaster(nn.Module):
    """Mean of the last ``k`` normalized values, repeated over the horizon."""

    def __init__(self, k: int, horizon: int = HORIZON) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        self.k = k
        self.horizon = horizon

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        mean = inputs[:, -self.k :].mean(dim=1, keepdim=True)
        # repeat, not expand: a contiguous output, as the LSTM's, whatever runtime reads it.
        return mean.repeat(1, self.horizon)

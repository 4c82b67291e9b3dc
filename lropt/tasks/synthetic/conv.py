"""``conv``: small conv nets classifying synthetic images (oriented bars or placed blobs).

``bars``: the class is a bar's orientation (``n_classes`` angles over 180
degrees, jittered), at a random place, length, thickness and colour.
``blobs``: the class is where a Gaussian blob sits (``n_classes`` anchors on a
circle, jittered), with random size and colour. Both get additive pixel noise.
Images are drawn in one vectorised pass per batch, on the requested device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..params import Choice, FloatRange, IntRange, ParamSpace
from ..seeding import seeded_module
from .common import (
    ACTIVATIONS,
    STEPS,
    TRAIN_ROWS,
    ParamFamily,
    SampledClassifier,
    activation,
)


def conv_net(channels: int, size: int, width: int, depth: int, n_classes: int, act: str) -> nn.Sequential:
    """``depth`` blocks of 3x3 conv + activation + 2x2 average pool (width doubling), then a linear classifier."""
    layers: list[nn.Module] = []
    c = channels
    for i in range(depth):
        out = width * 2**i
        layers += [nn.Conv2d(c, out, 3, padding=1), activation(act), nn.AvgPool2d(2)]
        c, size = out, size // 2
    layers += [nn.Flatten(), nn.Linear(c * size * size, n_classes)]
    return nn.Sequential(*layers)


def draw_images(pattern: str, labels: Tensor, n_classes: int, channels: int, size: int, noise: float, gen) -> Tensor:
    """Images ``(n, channels, size, size)`` showing ``labels`` as bars or blobs (see the module doc)."""
    n, dev = labels.shape[0], labels.device

    def uniform(lo: float, hi: float) -> Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=gen, device=dev))[:, None, None]

    grid = torch.arange(size, device=dev, dtype=torch.float32) + 0.5
    ys, xs = grid[:, None], grid[None, :]
    lab = labels.to(torch.float32)[:, None, None]
    if pattern == "bars":
        step = math.pi / n_classes
        angle = lab * step + uniform(-0.15, 0.15) * step
        dx, dy = xs - size * uniform(0.3, 0.7), ys - size * uniform(0.3, 0.7)
        across = -dx * torch.sin(angle) + dy * torch.cos(angle)
        along = dx * torch.cos(angle) + dy * torch.sin(angle)
        shape = torch.exp(-0.5 * (across / uniform(0.6, 1.2)) ** 2)
        img = shape * torch.sigmoid((size * uniform(0.25, 0.45) - along.abs()) / 0.7)
    else:
        angle = lab * (2 * math.pi / n_classes)
        cx = size * (0.5 + 0.28 * torch.cos(angle) + uniform(-0.06, 0.06))
        cy = size * (0.5 + 0.28 * torch.sin(angle) + uniform(-0.06, 0.06))
        img = torch.exp(-0.5 * ((xs - cx) ** 2 + (ys - cy) ** 2) / (size * uniform(0.07, 0.14)) ** 2)
    colour = 0.5 + 0.5 * torch.rand(n, channels, 1, 1, generator=gen, device=dev)
    images = img[:, None] * colour
    return images + noise * torch.randn(images.shape, generator=gen, device=dev)


@dataclass
class ConvTask(SampledClassifier):
    """A conv net on synthetic bar/blob images."""

    ARCH_FIELDS = ("image_size", "channels", "n_classes", "width", "depth", "activation", "batch_size")
    VAL_ROWS = 512

    pattern: str = "bars"
    image_size: int = 12
    channels: int = 1
    n_classes: int = 4
    width: int = 8
    depth: int = 2
    activation: str = "relu"
    noise: float = 0.3
    train_rows: int = 0          # 0: fresh rows every batch; N: a fixed training set of N rows
    metric_name: str | None = "accuracy"
    base_lrs: dict = field(default_factory=lambda: {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3})

    def init_model(self, seed: int) -> nn.Module:
        build = lambda: conv_net(
            self.channels, self.image_size, self.width, self.depth, self.n_classes, self.activation
        )  # noqa: E731
        return seeded_module(build, seed)

    def _sample(self, n: int, gen: torch.Generator, device):
        labels = torch.randint(0, self.n_classes, (n,), generator=gen, device=device)
        return draw_images(
            self.pattern, labels, self.n_classes, self.channels, self.image_size, self.noise, gen
        ), labels


class ConvFamily(ParamFamily):
    """Conv nets (width, depth, activation) on bar/blob images (size, channels, classes, noise)."""

    name = "conv"
    description = "small conv net classifying synthetic oriented bars or placed blobs"
    TASK = ConvTask
    SPACE = ParamSpace(
        "conv",
        pattern=Choice(("bars", "blobs"), ("bars", "blobs")),
        image_size=Choice((8, 12, 16, 24, 32), (8, 12, 16)),
        channels=IntRange(1, 3, (1, 3)),
        n_classes=IntRange(2, 12, (2, 6)),
        width=IntRange(2, 64, (4, 16), log=True),
        depth=IntRange(1, 3, (1, 3)),
        activation=Choice(tuple(ACTIVATIONS), ("relu", "tanh", "gelu", "silu")),
        noise=FloatRange(0.0, 3.0, (0.1, 0.6)),
        batch_size=IntRange(1, 1024, (16, 64), log=True),
        train_rows=TRAIN_ROWS,
        steps=STEPS,
    )

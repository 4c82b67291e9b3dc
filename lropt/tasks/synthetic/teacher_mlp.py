"""``teacher_mlp``: classify inputs labelled by a random teacher MLP, with a student MLP.

The teacher (its own width/depth, tanh units) is drawn from the task's data
seed; its logits are centred and scaled on a large sample so that classes are
roughly balanced. Inputs are Gaussian with per-feature scales spread over
``input_cond`` (badly scaled features are a classic source of ill-conditioning),
and a fraction ``label_noise`` of labels is replaced by uniform noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..device_cache import cached
from ..params import Choice, FloatRange, IntRange, ParamSpace
from ..seeding import SALT_TASK, generator, seeded_module
from .common import ACTIVATIONS, STEPS, TRAIN_ROWS, ParamFamily, SampledClassifier, mlp, with_label_noise


@dataclass
class TeacherMLPTask(SampledClassifier):
    """Student MLP learning a random teacher's labels."""

    ARCH_FIELDS = ("d_in", "n_classes", "width", "depth", "activation", "batch_size")

    d_in: int = 16
    n_classes: int = 4
    width: int = 64
    depth: int = 2
    activation: str = "relu"
    teacher_width: int = 32
    teacher_depth: int = 2
    input_cond: float = 1.0
    label_noise: float = 0.0
    train_rows: int = 0          # 0: fresh rows every batch; N: a fixed training set of N rows
    metric_name: str | None = "accuracy"
    base_lrs: dict = field(default_factory=lambda: {"sgd": 0.1, "adam": 3e-3, "adamw": 3e-3})

    def init_model(self, seed: int) -> nn.Module:
        return seeded_module(lambda: mlp(self.d_in, self.width, self.depth, self.n_classes, self.activation), seed)

    def _teacher(self):
        """Teacher weights, feature scales and logit normalisation (built once, on CPU)."""

        def build():
            gen = generator(self.data_seed, SALT_TASK)
            dims = [self.d_in] + [self.teacher_width] * self.teacher_depth + [self.n_classes]
            weights = [torch.randn(a, b, generator=gen) / a**0.5 * 1.5 for a, b in zip(dims[:-1], dims[1:])]
            biases = [0.5 * torch.randn(b, generator=gen) for b in dims[1:]]
            exps = torch.linspace(-0.5, 0.5, self.d_in)[torch.randperm(self.d_in, generator=gen)]
            scales = self.input_cond**exps
            probe = _teacher_logits(torch.randn(4096, self.d_in, generator=gen), weights, biases)
            mean, std = probe.mean(0), probe.std() + 1e-6
            return weights, biases, scales, mean, std

        return build

    def _sample(self, n: int, gen: torch.Generator, device) -> tuple[Tensor, Tensor]:
        weights, biases, scales, mean, std = cached(self, "teacher", device, self._teacher())
        z = torch.randn(n, self.d_in, generator=gen, device=device)
        labels = ((_teacher_logits(z, weights, biases) - mean) / std).argmax(-1)
        return z * scales, with_label_noise(labels, self.label_noise, self.n_classes, gen)


def _teacher_logits(z: Tensor, weights: list[Tensor], biases: list[Tensor]) -> Tensor:
    h = z
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w + b
        if i < len(weights) - 1:
            h = torch.tanh(h)
    return h


class TeacherMLPFamily(ParamFamily):
    """Student MLPs (width, depth, activation) on random-teacher classification problems."""

    name = "teacher_mlp"
    description = "MLP student learns labels of a random teacher MLP (Gaussian inputs, label noise)"
    TASK = TeacherMLPTask
    SPACE = ParamSpace(
        "teacher_mlp",
        d_in=IntRange(2, 512, (8, 32), log=True),
        n_classes=IntRange(2, 100, (2, 10)),
        width=IntRange(2, 2048, (16, 128), log=True),
        depth=IntRange(1, 8, (1, 3)),
        activation=Choice(tuple(ACTIVATIONS), ("relu", "tanh", "gelu", "silu")),
        teacher_width=IntRange(2, 1024, (8, 64), log=True),
        teacher_depth=IntRange(1, 6, (1, 3)),
        input_cond=FloatRange(1.0, 1e4, (1.0, 30.0), log=True),
        label_noise=FloatRange(0.0, 0.9, (0.0, 0.1)),
        batch_size=IntRange(1, 8192, (16, 128), log=True),
        train_rows=TRAIN_ROWS,
        steps=STEPS,
    )

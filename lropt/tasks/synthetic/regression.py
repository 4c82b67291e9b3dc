"""``linear_regression`` and ``logistic_regression`` with a controlled condition number.

Inputs are ``x = z @ S`` with ``z`` standard normal and ``S = diag(s) R^T``:
the singular values ``s`` are log-spaced so that the input covariance has
condition number ``cond``, and ``R`` is a random rotation. A random teacher
``W*`` labels them: ``y = x W* + noise`` (linear, scaled to unit signal
variance), or a class drawn from ``softmax(margin * x W*)`` (logistic). The
model is one ``nn.Linear``, so the loss landscape is exactly the textbook
(ill-conditioned) convex problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..device_cache import cached
from ..losses import accuracy, cross_entropy
from ..params import FloatRange, IntRange, ParamSpace
from ..seeding import SALT_TASK, SALT_TRAIN, SALT_VAL, generator, seeded_module
from .common import STEPS, ParamFamily, SyntheticTask

VAL_SIZE = 1024


@dataclass
class _ConditionedTask(SyntheticTask):
    """Shared input generation: Gaussian inputs with covariance condition number ``cond``."""

    dim: int = 16
    cond: float = 10.0
    n_out: int = 1

    def init_model(self, seed: int) -> nn.Module:
        return seeded_module(lambda: nn.Linear(self.dim, self.n_out), seed)

    def _problem(self):
        """``(S, W*)``: the input map and the teacher weights (built on CPU from the data seed)."""
        gen = generator(self.data_seed, SALT_TASK)
        s = self.cond ** (-0.5 * torch.linspace(0.0, 1.0, self.dim))
        rot, _ = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=gen, dtype=torch.float64))
        input_map = s[:, None] * rot.T.to(torch.float32)
        teacher = torch.randn(self.dim, self.n_out, generator=gen)
        signal = (input_map @ teacher).norm(dim=0).clamp_min(1e-6)  # std of x @ W* per output
        return input_map, teacher / signal

    def _labels(self, logits: Tensor, gen: torch.Generator) -> Tensor:
        raise NotImplementedError

    def _sample(self, n: int, gen: torch.Generator, device):
        input_map, teacher = cached(self, "problem", device, self._problem)
        x = torch.randn(n, self.dim, generator=gen, device=input_map.device) @ input_map
        return x, self._labels(x @ teacher, gen)

    def train_batch(self, step: int, device=None):
        return self._sample(self.batch_size, generator(self.data_seed, SALT_TRAIN, step, device=device), device)

    def val_batches(self, device=None) -> list:
        return cached(self, "val", device, lambda: [self._sample(VAL_SIZE, generator(self.data_seed, SALT_VAL), "cpu")])


@dataclass
class LinearRegressionTask(_ConditionedTask):
    """Least squares: ``y = x W* + noise``."""

    ARCH_FIELDS = ("dim", "n_out", "batch_size")

    noise: float = 0.1
    base_lrs: dict = field(default_factory=lambda: {"sgd": 0.1, "adam": 1e-2, "adamw": 1e-2})

    def _labels(self, signal: Tensor, gen: torch.Generator) -> Tensor:
        return signal + self.noise * torch.randn(signal.shape, generator=gen, device=signal.device)

    def loss(self, outputs, targets) -> Tensor:
        return F.mse_loss(outputs, targets)


@dataclass
class LogisticRegressionTask(_ConditionedTask):
    """Multinomial logistic regression: ``y ~ softmax(margin * x W*)``."""

    ARCH_FIELDS = ("dim", "n_out", "batch_size")

    n_out: int = 2
    margin: float = 5.0
    metric_name: str | None = "accuracy"
    base_lrs: dict = field(default_factory=lambda: {"sgd": 0.5, "adam": 1e-2, "adamw": 1e-2})

    def _labels(self, logits: Tensor, gen: torch.Generator) -> Tensor:
        probs = torch.softmax(self.margin * logits, dim=-1)
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)

    def loss(self, outputs, targets) -> Tensor:
        return cross_entropy(outputs, targets)

    def metric(self, outputs, targets) -> Tensor:
        return accuracy(outputs, targets)


def _common(**extra):
    return dict(
        dim=IntRange(1, 4096, (8, 64), log=True),
        cond=FloatRange(1.0, 1e8, (1.0, 1e3), log=True),
        batch_size=IntRange(1, 8192, (8, 128), log=True),
        steps=STEPS,
        **extra,
    )


class LinearRegressionFamily(ParamFamily):
    """Linear least squares over dimension, conditioning, noise and batch size."""

    name = "linear_regression"
    description = "least squares on Gaussian inputs with a chosen condition number"
    TASK = LinearRegressionTask
    SPACE = ParamSpace(
        "linear_regression",
        **_common(n_out=IntRange(1, 64, 1), noise=FloatRange(0.0, 10.0, (0.0, 0.5))),
    )


class LogisticRegressionFamily(ParamFamily):
    """Logistic regression over dimension, conditioning, label count, margin and batch size."""

    name = "logistic_regression"
    description = "multinomial logistic regression with a chosen condition number and margin"
    TASK = LogisticRegressionTask
    SPACE = ParamSpace(
        "logistic_regression",
        **_common(n_out=IntRange(2, 100, (2, 5)), margin=FloatRange(0.1, 1000.0, (1.0, 20.0), log=True)),
    )

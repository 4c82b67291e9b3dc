"""``quadratic``: noisy ill-conditioned quadratics, the classic short-horizon-bias testbed.

The loss is ``0.5 (x - c)^T A (x - c)`` with ``A = R diag(h) R^T``, eigenvalues
``h`` log-spaced over ``[scale / cond, scale]`` and ``R`` a random rotation (or
the identity). The model is a parameter vector ``x``; a batch carries
``M = diag(sqrt(h)) R^T`` as its input and noisy targets ``M c + noise * xi``,
so ``loss = 0.5 * mean_b ||M x - y_b||^2``. The gradient noise then has
covariance ``noise^2 A / batch`` (noise proportional to curvature, as in the
noisy quadratic model), and everything task-specific lives in the batch, so
tasks of one ``arch_key`` vmap together. Validation targets are noiseless:
``val_loss`` is the excess loss, 0 at the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..base import DEFAULT_BASE_LRS
from ..device_cache import cached
from ..losses import half_mse
from ..params import Choice, FloatRange, IntRange, ParamSpace
from ..seeding import SALT_INIT, SALT_TASK, SALT_TRAIN, generator
from .common import STEPS, ParamFamily, SyntheticTask


class VectorModel(nn.Module):
    """A model that is just a parameter vector ``x``; ``forward(M)`` returns ``M @ x``."""

    def __init__(self, x0: Tensor):
        super().__init__()
        self.x = nn.Parameter(x0.clone())

    def forward(self, matrix: Tensor) -> Tensor:
        return matrix @ self.x


@dataclass
class QuadraticTask(SyntheticTask):
    """Minimise a noisy quadratic in ``dim`` dimensions."""

    ARCH_FIELDS = ("dim", "batch_size")

    dim: int = 10
    cond: float = 100.0
    scale: float = 1.0
    noise: float = 0.1
    rotate: bool = True
    init_scale: float = 1.0

    def __post_init__(self):
        # SGD is stable below 2 / scale; Adam moves each coordinate ~lr per step.
        if self.base_lrs == DEFAULT_BASE_LRS:
            self.base_lrs = {"sgd": 0.5 / self.scale, "adam": 0.05, "adamw": 0.05}

    def init_model(self, seed: int) -> nn.Module:
        gen = generator(SALT_INIT, seed)
        return VectorModel(self.init_scale * torch.randn(self.dim, generator=gen))

    def _problem(self):
        """``(M, M c)``: the square-root curvature matrix and the noiseless targets."""
        gen = generator(self.data_seed, SALT_TASK)
        h = self.scale * self.cond ** -torch.linspace(0.0, 1.0, self.dim)
        h = h[torch.randperm(self.dim, generator=gen)]
        if self.rotate:
            rot, _ = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=gen, dtype=torch.float64))
            rot = rot.to(torch.float32)
        else:
            rot = torch.eye(self.dim)
        matrix = h.sqrt()[:, None] * rot.T
        optimum = torch.randn(self.dim, generator=gen)
        return matrix, matrix @ optimum

    def train_batch(self, step: int, device=None):
        matrix, clean = cached(self, "problem", device, self._problem)
        gen = generator(self.data_seed, SALT_TRAIN, step, device=device)
        noise = torch.randn(self.batch_size, self.dim, generator=gen, device=matrix.device)
        return matrix, clean + self.noise * noise

    def val_batches(self, device=None) -> list:
        matrix, clean = cached(self, "problem", device, self._problem)
        return [(matrix, clean[None, :])]

    def loss(self, outputs, targets) -> Tensor:
        return half_mse(outputs, targets)


class QuadraticFamily(ParamFamily):
    """Noisy quadratics over dimension, condition number, curvature scale, noise and batch size."""

    name = "quadratic"
    description = "noisy ill-conditioned quadratic 0.5 (x-c)^T A (x-c), gradient noise ~ curvature"
    TASK = QuadraticTask
    SPACE = ParamSpace(
        "quadratic",
        dim=IntRange(1, 2048, (10, 100), log=True),
        cond=FloatRange(1.0, 1e8, (10.0, 1e4), log=True),
        scale=FloatRange(1e-4, 1e4, (0.1, 10.0), log=True),
        noise=FloatRange(0.0, 100.0, (0.0, 1.0)),
        rotate=Choice((True, False), (True, False)),
        init_scale=FloatRange(0.0, 100.0, 1.0),
        batch_size=IntRange(1, 4096, (1, 64), log=True),
        steps=STEPS,
    )

"""Building blocks of the synthetic families: activations, MLPs, the family base class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..base import Task, TaskFamily
from ..device_cache import cached
from ..losses import accuracy, cross_entropy
from ..params import IntRange, ParamSpace
from ..seeding import SALT_POOL, SALT_TRAIN, SALT_VAL, as_rng, draw_seed, generator

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}

#: The ``steps`` parameter every family takes (sets ``Task.default_steps``).
STEPS = IntRange(1, 1_000_000, 200)

#: ``train_rows``: 0 draws every training batch fresh (infinite data, nothing to
#: overfit); N > 0 draws batches from one fixed training set of N rows, so a
#: large enough model overfits and the validation loss turns up, as on real data.
TRAIN_ROWS = IntRange(0, 100_000, 0, log=True)


def with_label_noise(labels: torch.Tensor, rate: float, n_classes: int, gen: torch.Generator) -> torch.Tensor:
    """``labels`` with a fraction ``rate`` replaced by uniform draws over ``n_classes`` (as is when 0)."""
    if rate <= 0:
        return labels
    n, device = labels.shape[0], labels.device
    flip = torch.rand(n, generator=gen, device=device) < rate
    noise = torch.randint(0, n_classes, (n,), generator=gen, device=device)
    return torch.where(flip, noise, labels)


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (see :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[name]()


def mlp(d_in: int, width: int, depth: int, d_out: int, act: str) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with activation ``act``, then a linear read-out."""
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), activation(act)]
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class SyntheticTask(Task):
    """A synthetic task; ``ARCH_FIELDS`` name the fields that fix the model's code and parameter and batch shapes."""

    ARCH_FIELDS: ClassVar[tuple[str, ...]] = ()

    def pooled_batch(self, sample: Callable, step: int, device) -> tuple:
        """Training batch ``step``: fresh rows from ``sample(n, gen, device)``, or, when
        the task has ``train_rows`` > 0, rows picked from its fixed training set."""
        gen = generator(self.data_seed, SALT_TRAIN, step, device=device)
        rows = getattr(self, "train_rows", 0)
        if not rows:
            return sample(self.batch_size, gen, device)
        inputs, targets = cached(self, "train_pool", device,
                                 lambda: sample(rows, generator(self.data_seed, SALT_POOL), "cpu"))
        idx = torch.randint(0, rows, (self.batch_size,), generator=gen, device=device)
        return inputs[idx], targets[idx]

    @property
    def arch_key(self) -> tuple:
        """``(family, *arch fields)``: equal keys mean the same model code and shapes, so the tasks vmap together."""
        return (self.family, *(getattr(self, f) for f in self.ARCH_FIELDS))


@dataclass
class SampledClassifier(SyntheticTask):
    """A classification task whose rows come from ``_sample(n, gen, device)``: training batches
    through :meth:`pooled_batch`, a fixed validation set of ``VAL_ROWS`` rows, cross-entropy and accuracy."""

    VAL_ROWS: ClassVar[int] = 1024

    def _sample(self, n: int, gen: torch.Generator, device) -> tuple:
        raise NotImplementedError

    def train_batch(self, step: int, device=None):
        return self.pooled_batch(self._sample, step, device)

    def val_batches(self, device=None) -> list:
        return cached(self, "val", device,
                      lambda: [self._sample(self.VAL_ROWS, generator(self.data_seed, SALT_VAL), "cpu")])

    def loss(self, outputs, targets):
        return cross_entropy(outputs, targets)

    def metric(self, outputs, targets):
        return accuracy(outputs, targets)


class ParamFamily(TaskFamily):
    """A family whose tasks are drawn from a validated :class:`ParamSpace`.

    Subclasses set ``name``, ``SPACE`` (whose parameter names are task fields,
    plus ``steps`` for ``default_steps``) and ``TASK`` (the task class).
    """

    kind = "synthetic"
    SPACE: ClassVar[ParamSpace]
    TASK: ClassVar[type]

    def __init__(self, **params):
        self.params = self.SPACE.resolve(params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.SPACE.describe(self.params)})"

    def sample(self, rng) -> Task:
        """A new task: a config drawn from the parameter ranges, and a fresh data seed."""
        rng = as_rng(rng)
        config = self.SPACE.sample(self.params, rng)
        return self.make_task(config, draw_seed(rng))

    def make_task(self, config: dict, data_seed: int, name: str | None = None) -> Task:
        """The task for one concrete ``config`` (``steps`` becomes ``default_steps``)."""
        config = dict(config)
        steps = config.pop("steps")
        return self.TASK(
            name=name or f"{self.name}-{data_seed}",
            family=self.name,
            kind="synthetic",
            data_seed=data_seed,
            default_steps=steps,
            **config,
        )

    def fix_arch(self, rng) -> "ParamFamily":
        """A copy of this family with the architecture parameters pinned to one random draw.

        Every task it samples has the same ``arch_key``, so a batch of them can be vmapped.
        """
        rng = as_rng(rng)
        config = self.SPACE.sample(self.params, rng)
        pinned = dict(self.SPACE.describe(self.params))
        for field_name in self.TASK.ARCH_FIELDS:
            pinned[field_name] = config[field_name]
        pinned = {k: tuple(v) if isinstance(v, list) else v for k, v in pinned.items()}
        return type(self)(**pinned)

    def sample_group(self, rng, n: int) -> list[Task]:
        """``n`` tasks that share one ``arch_key`` (different data, conditioning, noise ...)."""
        rng = as_rng(rng)
        family = self.fix_arch(rng)
        return [family.sample(rng) for _ in range(n)]

    def describe(self, n: int = 8) -> dict:
        """Name, kind, parameter ranges and, over ``n`` sampled tasks, the span of size, steps, batch size, base LR."""
        tasks = [self.sample(np.random.default_rng(i)) for i in range(n)]
        sizes = [count_params(t.init_model(0)) for t in tasks]
        return {
            "name": self.name,
            "kind": self.kind,
            "params": (min(sizes), max(sizes)),
            "default_steps": _span(t.default_steps for t in tasks),
            "batch_size": _span(t.batch_size for t in tasks),
            "base_lr_adam": _span(t.base_lr("adam") for t in tasks),
            "description": self.description,
            "ranges": self.SPACE.describe(self.params),
        }


def _span(values):
    values = list(values)
    lo, hi = min(values), max(values)
    return lo if lo == hi else (lo, hi)

"""The Task / TaskFamily protocol that meta-training, comparisons and examples draw from.

A task is a small, fully deterministic training problem:

- ``init_model(seed)`` builds a fresh ``nn.Module`` (usable with a torch
  optimizer and, functionally, through ``torch.func.functional_call``);
- ``train_batch(step, device=None)`` is random-access and deterministic in
  ``(task.data_seed, step)``, so every method sees the same data order and a
  resumed run sees the same batches;
- ``val_batches(device=None)`` is a fixed list (the validation split);
- ``loss(outputs, targets)`` is a scalar mean loss; ``metric(outputs,
  targets)`` a scalar tensor (accuracy, higher is better) or ``None``.

A batch is ``(inputs, targets)``; ``inputs`` is a tensor (``model(inputs)``)
or a dict of tensors (``model(**inputs)``). :func:`forward` applies that rule.

``arch_key`` is equal for tasks whose models have identical parameter shapes
and whose batches have identical shapes: such tasks can be stacked and
``torch.func.vmap``-ed together in meta-training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn

KINDS = ("synthetic", "offline", "download")

#: Default base LR per optimizer name, used when a task does not say otherwise.
DEFAULT_BASE_LRS = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}


def forward(model: nn.Module, inputs) -> Any:
    """Call ``model`` on a batch's inputs (a tensor, or a dict of keyword tensors)."""
    return model(**inputs) if isinstance(inputs, dict) else model(inputs)


@dataclass
class Task:
    """A concrete training problem. Subclasses implement the four methods below."""

    name: str
    family: str
    kind: str = "synthetic"
    data_seed: int = 0
    default_steps: int = 200
    batch_size: int = 32
    base_lrs: dict = field(default_factory=lambda: dict(DEFAULT_BASE_LRS))
    metric_name: str | None = None
    description: str = ""

    def init_model(self, seed: int) -> nn.Module:
        raise NotImplementedError

    def train_batch(self, step: int, device=None):
        raise NotImplementedError

    def val_batches(self, device=None) -> list:
        raise NotImplementedError

    def loss(self, outputs, targets) -> Tensor:
        raise NotImplementedError

    def metric(self, outputs, targets) -> Tensor | None:
        return None

    @property
    def arch_key(self) -> tuple:
        """Hashable key equal for tasks that can be vmapped together."""
        return (self.family, self.name)

    def base_lr(self, optimizer: str) -> float:
        """The task's usual base LR for ``optimizer`` (``"sgd"``, ``"adam"``, ``"adamw"``)."""
        return self.base_lrs.get(optimizer.lower(), DEFAULT_BASE_LRS.get(optimizer.lower(), 1e-3))

    @torch.no_grad()
    def val_weight(self, targets) -> int:
        """The weight of one validation batch in the mean (1: batches count equally)."""
        return 1

    @torch.no_grad()
    def evaluate(self, model: nn.Module, device=None) -> dict[str, float]:
        """Validation loss (and metric) over ``val_batches``, each batch weighted by :meth:`val_weight`."""
        was_training = model.training
        model.eval()
        total, metric_total, n = 0.0, 0.0, 0
        for inputs, targets in self.val_batches(device):
            out = forward(model, inputs)
            k = self.val_weight(targets)
            total += float(self.loss(out, targets)) * k
            m = self.metric(out, targets)
            metric_total += float(m) * k if m is not None else 0.0
            n += k
        model.train(was_training)
        res = {"val_loss": total / max(n, 1)}
        if self.metric_name is not None:
            res[f"val_{self.metric_name}"] = metric_total / max(n, 1)
        return res


class TaskFamily:
    """A distribution over tasks: ``sample(rng)`` returns a new :class:`Task`."""

    name: str = "family"
    kind: str = "synthetic"
    description: str = ""

    def sample(self, rng) -> Task:
        raise NotImplementedError


@dataclass
class Mixture(TaskFamily):
    """Sample a family by weight, then a task from it."""

    families: list
    weights: list | None = None
    name: str = "mixture"

    def __post_init__(self):
        if not self.families:
            raise ValueError("Mixture needs at least one family")
        w = self.weights or [1.0] * len(self.families)
        if len(w) != len(self.families) or any(x < 0 for x in w) or sum(w) <= 0:
            raise ValueError(f"weights must be {len(self.families)} non-negative numbers with a positive sum, got {w}")
        total = float(sum(w))
        self.weights = [x / total for x in w]

    def sample(self, rng) -> Task:
        import numpy as np

        rng = np.random.default_rng(rng)
        i = int(rng.choice(len(self.families), p=self.weights))
        return self.families[i].sample(rng)


Factory = Callable[[], Task]

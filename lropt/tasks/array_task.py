"""``ArrayTask``: classification over a finite data set held in memory as tensors.

Real (offline and download) tasks load their data once into :class:`Arrays`
on CPU (lazily, on first use, so building a task object is free), then serve
shuffled epochs: step ``s`` takes positions ``s*B .. s*B+B-1`` of an endless
sequence of epochs, each epoch a permutation seeded by ``(data_seed, epoch)``.
Batches are therefore random-access and identical for every method that uses
the same ``data_seed``. Inputs are a tensor or a dict of tensors (text models).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

from .base import Task, forward
from .device_cache import cached
from .losses import accuracy, cross_entropy
from .seeding import SALT_TRAIN, generator


class Arrays(NamedTuple):
    """A data set's train and validation tensors (inputs: a tensor or dict of tensors)."""

    x_train: object
    y_train: Tensor
    x_val: object
    y_val: Tensor


def take(inputs, idx: Tensor):
    """Rows ``idx`` of a tensor, or of every tensor in a dict."""
    if isinstance(inputs, dict):
        return {k: v[idx] for k, v in inputs.items()}
    return inputs[idx]


@lru_cache(maxsize=32)
def _epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=generator(seed, SALT_TRAIN, epoch))


def epoch_batch_indices(n: int, batch_size: int, seed: int, step: int) -> Tensor:
    """Indices of batch ``step`` in the endless stream of seeded epoch permutations of ``range(n)``."""
    start, parts, need = step * batch_size, [], batch_size
    while need > 0:
        epoch, offset = divmod(start, n)
        part = _epoch_permutation(n, seed, epoch)[offset : offset + need]
        parts.append(part)
        start, need = start + len(part), need - len(part)
    return parts[0] if len(parts) == 1 else torch.cat(parts)


@dataclass
class ArrayTask(Task):
    """A classification task over :class:`Arrays`; subclasses implement :meth:`load_arrays`."""

    kind: str = "offline"
    metric_name: str | None = "accuracy"
    split_seed: int = 0
    val_batch_size: int = 256

    def load_arrays(self) -> Arrays:
        """Load (or build) the data as CPU tensors. Called once per task object."""
        raise NotImplementedError

    def arrays(self, device=None) -> Arrays:
        """The data on ``device`` (loaded on first use, then cached per device)."""
        return cached(self, "arrays", device, self.load_arrays)

    @property
    def n_train(self) -> int:
        return len(self.arrays().y_train)

    def train_batch(self, step: int, device=None):
        data = self.arrays(device)
        idx = epoch_batch_indices(len(data.y_train), self.batch_size, self.data_seed, step)
        idx = idx.to(data.y_train.device)
        return take(data.x_train, idx), data.y_train[idx]

    def val_batches(self, device=None) -> list:
        def build():
            data = self.arrays("cpu")
            n, b = len(data.y_val), self.val_batch_size
            return [(take(data.x_val, slice(i, i + b)), data.y_val[i : i + b]) for i in range(0, n, b)]

        return cached(self, "val", device, build)

    @torch.no_grad()
    def val_weight(self, targets) -> int:
        """Batches weigh by their number of examples (the last chunk may be smaller)."""
        return len(targets)

    def loss(self, outputs, targets) -> Tensor:
        return cross_entropy(outputs, targets)

    def metric(self, outputs, targets) -> Tensor:
        return accuracy(outputs, targets)


def dataset_tensors(dataset, columns: list[str]) -> dict[str, Tensor]:
    """Whole columns of a ``datasets.Dataset`` as tensors (one read of the Arrow table)."""
    rows = dataset.select_columns(columns).with_format("torch")[:]
    return {c: rows[c] for c in columns}

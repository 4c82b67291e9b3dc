"""Deterministic seeds for tasks: a task's data is a pure function of ``(data_seed, step)``.

Every batch comes from a fresh ``torch.Generator`` seeded by mixing the task's
``data_seed``, the step and a salt, so batches are random-access (a resumed run
sees the same data) and independent of the global torch RNG.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

_MASK = (1 << 64) - 1

#: Salts that keep the different random streams of one task apart.
SALT_TRAIN = 0x7A11
SALT_VAL = 0x5E1F
SALT_TASK = 0x7A5C
SALT_INIT = 0x1417
SALT_RUN = 0x2B1D    # the global RNG during a comparison run (dropout masks)
SALT_POOL = 0x9001   # the fixed training set of a finite-data synthetic task


def mix_seed(*values: int) -> int:
    """Hash integers into one 63-bit seed (splitmix64 rounds): nearby inputs give unrelated seeds."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & _MASK)) & _MASK
        h = (h + 0x9E3779B97F4A7C15) & _MASK
        z = h
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        h = z ^ (z >> 31)
    return h & ((1 << 63) - 1)


def as_device(device) -> torch.device:
    """``None`` means CPU."""
    return torch.device("cpu") if device is None else torch.device(device)


def generator(*values: int, device=None) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``values`` (see :func:`mix_seed`)."""
    gen = torch.Generator(device=as_device(device))
    gen.manual_seed(mix_seed(*values))
    return gen


def as_rng(rng) -> np.random.Generator:
    """An int seed, ``None`` or a numpy ``Generator`` as a numpy ``Generator`` (a Generator is returned as is)."""
    return np.random.default_rng(rng)


def draw_seed(rng: np.random.Generator) -> int:
    """A fresh non-negative 31-bit seed from ``rng``."""
    return int(rng.integers(0, 2**31 - 1))


def seeded_module(build, seed: int):
    """Call ``build()`` with the global torch RNG seeded by ``seed``, restoring the RNG afterwards.

    ``nn.Module`` constructors draw their initial weights from the global RNG;
    forking it keeps ``init_model(seed)`` deterministic without side effects.
    """
    with seeded_global_rng(mix_seed(SALT_INIT, seed)):
        return build()


@contextlib.contextmanager
def seeded_global_rng(seed: int, device=None):
    """Run a block with the global torch RNG (the CPU's and ``device``'s) seeded by ``seed``, then restore it.

    Training-time randomness (dropout) draws from the global RNG; seeding it
    per run makes a run repeat exactly without disturbing the caller. Only
    ``device``'s CUDA generator is touched: ``fork_rng`` restores no other.
    """
    device = as_device(device)
    seed = seed % 2**63
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield

"""Per-task, per-device caching of tensors a task builds once (data, teacher weights)."""

from __future__ import annotations

from typing import Callable

import torch

from .seeding import as_device


def cached(task, key: str, device, build: Callable[[], object]):
    """Return ``build()`` moved to ``device``, building on CPU once and copying once per device.

    The cache lives in the task's ``__dict__`` (not a dataclass field), so it
    does not take part in ``==`` or ``repr``. ``build`` returns a tensor or a
    tuple/dict of tensors; other leaves are kept as they are.
    """
    store = task.__dict__.setdefault("_lropt_cache", {})
    device = as_device(device)
    cpu_key = (key, "cpu")
    if cpu_key not in store:
        store[cpu_key] = build()
    dev_key = (key, str(device))
    if dev_key not in store:
        store[dev_key] = to_device(store[cpu_key], device)
    return store[dev_key]


def to_device(obj, device):
    """Move a tensor, or the tensors inside a tuple/list/dict, to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if hasattr(obj, "_fields"):  # NamedTuple
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj

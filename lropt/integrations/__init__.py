"""Framework integrations: HF Trainer (:mod:`.hf`), Lightning (:mod:`.lightning`), DDP (:mod:`.ddp`).

accelerate needs no module: ``accelerator.prepare(model, wrapper)`` works as is
(see the README). Importing this package imports no framework; each submodule
imports its framework when it is imported.

Shared helpers:

- :func:`find_wrapper` digs the :class:`~lropt.LROptimizerWrapper` out of the
  layers that frameworks put around an optimizer (accelerate's
  ``AcceleratedOptimizer``, Lightning's ``LightningOptimizer``, DeepSpeed).
- :func:`lropt_scalars` returns the lropt TensorBoard scalars (the tag scheme
  of :mod:`lropt.logging`) as a ``{tag: float}`` dict, for a framework's logger.
- :func:`fill_total_steps` gives a wrapper built without ``total_steps`` the run
  length a trainer knows.
"""
from __future__ import annotations

from ..wrapper import LROptimizerWrapper

__all__ = ["fill_total_steps", "find_wrapper", "lropt_scalars"]

_INNER_ATTRS = ("optimizer", "_optimizer")


def find_wrapper(obj, *, required: bool = True) -> LROptimizerWrapper | None:
    """The :class:`LROptimizerWrapper` inside ``obj`` (``obj`` itself, or one reached
    through ``.optimizer`` / ``._optimizer`` attributes, at most 8 levels deep).

    With ``required=False`` returns ``None`` where there is none; otherwise raises
    ``TypeError`` naming what was found.
    """
    seen = obj
    for _ in range(8):
        if isinstance(obj, LROptimizerWrapper):
            return obj
        inner = next((getattr(obj, a) for a in _INNER_ATTRS if getattr(obj, a, None) is not None), None)
        if inner is None or inner is obj:
            break
        obj = inner
    if required:
        raise TypeError(
            f"no LROptimizerWrapper found in {type(seen).__name__} "
            "(pass the wrapper explicitly, or wrap the optimizer: LROptimizerWrapper(opt, ...))"
        )
    return None


def fill_total_steps(wrapper: LROptimizerWrapper, steps) -> bool:
    """Set ``wrapper.total_steps`` to ``steps`` (a trainer's optimizer-step count) when the wrapper has
    none and ``steps`` is a whole number >= 1; True when it was set. The progress feature needs the run
    length: without it the shipped default reached the target later and lost cells (BENCHMARKS.md)."""
    if wrapper.total_steps is not None or steps is None:
        return False
    try:
        n = float(steps)
    except (TypeError, ValueError):
        return False
    if not (n >= 1 and n != float("inf") and n == int(n)):
        return False
    wrapper.total_steps = int(n)
    return True


def lropt_scalars(wrapper: LROptimizerWrapper, *, features: bool = True) -> dict[str, float]:
    """The wrapper's current TensorBoard scalars, keyed by lropt's tags: effective LR and
    multiplier per group, the features of group 0 (when ``features``), skipped steps.

    Reads the device once (call it at logging time, not every step).
    """
    return wrapper.scalars(features=features)

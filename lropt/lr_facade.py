"""An ``LRScheduler`` facade over the wrapper, for frameworks that want a scheduler.

HF Trainer, Lightning and friends call ``scheduler.step()`` and log
``scheduler.get_last_lr()``. The controller sets the LR inside
``optimizer.step()``, so this scheduler's ``step()`` only records the LRs it
finds: calling it any number of times changes nothing.
"""
from __future__ import annotations

from torch.optim.lr_scheduler import LRScheduler


class ControllerScheduler(LRScheduler):
    """Scheduler facade returned by :meth:`LROptimizerWrapper.as_scheduler`."""

    def __init__(self, wrapper):
        # Deliberately not calling LRScheduler.__init__: it would write initial
        # LRs into the groups and wrap optimizer.step.
        self.optimizer = wrapper
        self.base_lrs = [float(b) for b in wrapper.base_lrs]
        self.last_epoch = 0
        self._step_count = 1
        self.verbose = False
        self._get_lr_called_within_step = False
        self._last_lr = wrapper.get_last_lr()

    def get_lr(self) -> list[float]:
        return self.optimizer.get_last_lr()

    def get_last_lr(self) -> list[float]:
        return self.optimizer.get_last_lr()

    def step(self, epoch=None) -> None:
        self.last_epoch += 1
        self._last_lr = self.optimizer.get_last_lr()

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_epoch = state_dict.get("last_epoch", 0)

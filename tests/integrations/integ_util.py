"""Helpers shared by the integration tests."""
import torch

from lropt import LRController


def active_controller(seed: int = 0) -> LRController:
    """A controller whose head is not zero, so the LR really moves away from the base LR."""
    torch.manual_seed(seed)
    ctrl = LRController()
    with torch.no_grad():
        ctrl.head.weight.normal_(0.0, 2.0)
        ctrl.head.bias.fill_(0.3)
    return ctrl


class ObserveSpy:
    """Wraps ``wrapper.observe`` and records what it was fed."""

    def __init__(self, wrapper):
        self.losses, self.val_losses = [], []
        self._orig = wrapper.observe
        wrapper.observe = self

    def __call__(self, *, val_loss=None, loss=None):
        if loss is not None:
            self.losses.append(float(loss))
        if val_loss is not None:
            self.val_losses.append(float(val_loss))
        self._orig(val_loss=val_loss, loss=loss)

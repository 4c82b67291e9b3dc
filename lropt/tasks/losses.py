"""Loss and metric helpers shared by the tasks (all ``vmap``-safe)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def logits_of(outputs) -> Tensor:
    """The logits of a model output: a tensor, or a Hugging Face output with ``.logits``."""
    return outputs.logits if hasattr(outputs, "logits") else outputs


def cross_entropy(outputs, targets: Tensor) -> Tensor:
    """Mean cross-entropy over every position (works for ``(B, C)`` and ``(B, T, C)`` logits)."""
    logits = logits_of(outputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def accuracy(outputs, targets: Tensor) -> Tensor:
    """Fraction of positions whose arg-max logit is the target."""
    logits = logits_of(outputs)
    return (logits.argmax(-1) == targets).to(torch.float32).mean()


def half_mse(outputs: Tensor, targets: Tensor) -> Tensor:
    """``0.5 * mean squared error`` (the per-sample sum over the last axis, averaged over samples)."""
    return 0.5 * ((outputs - targets) ** 2).sum(-1).mean()

"""Distributed data parallel: every rank must compute the same learning rate.

The controller is deterministic: the same features, hidden state and weights
give the same multiplier. Under ``DistributedDataParallel`` the features agree
across ranks except the **loss**:

- gradient norm: DDP all-reduces (averages) the gradients during ``backward()``,
  so after ``backward()`` every rank holds the same gradients and computes the
  same gradient-norm feature. Step only after a synchronised backward (under
  gradient accumulation with ``model.no_sync()``, the last micro-batch).
- update/weight ratio and gradient alignment: the parameters stay identical
  (same gradients, same LR), so the updates and their cosine with the next
  (all-reduced) gradient agree too.
- progress: every rank counts the same steps.
- training loss: each rank sees its own batch, so local losses differ. Average
  them before stepping: ``opt.step(loss=sync_loss(loss))`` (or :func:`step`).
- validation loss: average it too (``opt.observe(val_loss=sync_loss(v))``)
  unless every rank evaluates the same data.
- controller: every rank must load the same controller (a shipped name or a
  file; a freshly built ``LRController`` must be built from the same seed).

:func:`sync_loss` costs one all-reduce of one scalar per step (no host sync).
:func:`lr_in_sync` is a debugging check (a collective: call it on every rank).

The HF Trainer callback (:mod:`lropt.integrations.hf`) averages the training
loss across ranks itself; the Trainer's ``eval_loss`` is already gathered over
all ranks.

FSDP status
-----------
**Not supported.** Under FSDP (``FullyShardedDataParallel``, either
``use_orig_params`` setting) each rank's optimizer holds only its shard of the
parameters and gradients, so the wrapper's gradient-norm, update-ratio and
gradient-alignment features describe the local shard, differ between ranks,
and the ranks compute different learning rates; syncing the loss does not fix
that. FSDP2 (``fully_shard``, DTensor parameters) is untested. Supporting FSDP
needs the wrapper to reduce the per-group squared gradient and update norms
(and the gradient-update dot products) over the shard group before computing
features (or to compute the multiplier on one rank and broadcast it before the
base step). ``ZeroRedundancyOptimizer`` is
untested. DDP (any backend), and DeepSpeed-free accelerate / HF Trainer
multi-process data parallel (which use DDP), are supported.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["is_distributed", "sync_loss", "step", "lr_in_sync"]


def is_distributed(group=None) -> bool:
    """Whether a process group is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def sync_loss(loss, group=None) -> Tensor:
    """The mean of ``loss`` over all ranks of ``group``, detached (``loss`` itself is left alone).

    ``loss`` is a one-element tensor (or a number, then a CPU tensor is used: fine for gloo,
    pass a tensor on the device for NCCL). Without an initialised process group of more
    than one rank it returns ``loss`` detached. Every rank must call it (a collective).
    """
    t = loss.detach().reshape(()).clone() if isinstance(loss, Tensor) else torch.tensor(float(loss))
    if not is_distributed(group):
        return t
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t / dist.get_world_size(group)


def _mean_or_none(value: Tensor | None, device, group=None) -> Tensor | None:
    """Mean of ``value`` over the ranks that have one (``None`` on a rank counts as absent).

    For framework callbacks where a rank may have seen no loss; every rank must call it.
    """
    if not is_distributed(group):
        return value
    have = value is not None
    v = value.detach().reshape(()).to(device, torch.float32) if have else torch.zeros((), device=device)
    pair = torch.stack([v, torch.ones((), device=device) if have else torch.zeros((), device=device)])
    dist.all_reduce(pair, op=dist.ReduceOp.SUM, group=group)
    # count >= 1 wherever this rank had a value; no host sync
    return pair[0] / pair[1] if have else None


def step(optimizer, loss, group=None):
    """``optimizer.step(loss=sync_loss(loss, group))``: the DDP form of ``opt.step(loss=loss)``."""
    return optimizer.step(loss=sync_loss(loss, group))


def lr_in_sync(wrapper, group=None) -> bool:
    """Whether every rank of ``group`` has exactly the same effective LRs as this one.

    A collective (every rank must call it); reads the device once. For tests and debugging.
    """
    from . import find_wrapper

    w = find_wrapper(wrapper)
    mine = torch.tensor(w.get_last_lr(), dtype=torch.float64, device=w.device)
    if not is_distributed(group):
        return True
    gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(gathered, mine, group=group)
    return all(torch.equal(g, mine) for g in gathered)

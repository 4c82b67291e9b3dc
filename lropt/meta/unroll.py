"""Batched inner training runs, advanced one step at a time inside truncations.

A :class:`RunGroup` holds ``B`` inner runs of one task — same data stream,
different model initialisations and base LRs — with stacked parameters,
advanced together with ``torch.func.vmap``. Its state —
parameters, inner-optimizer state, controller hidden state, feature
statistics — persists across truncations; a truncation is just ``K`` calls of
:func:`inner_step`.

Each step mirrors :class:`lropt.LROptimizerWrapper.step` exactly: the same
:mod:`lropt.features` calls on the same quantities (loss before the update,
gradient norm, previous update-to-weight ratio, current log-multiplier,
progress), the same controller, then ``lr = base_lr * exp(log_mult)`` and a
functional optimizer step that matches ``torch.optim``. Runs are treated as the
"groups" of the feature functions, which are elementwise over groups.

Gradients of the inner loss are taken at detached parameters (first order:
the meta-gradient flows through the LRs and the parameter path, not through
second derivatives) unless ``second_order`` is set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from .. import features as F
from ..tasks.base import Task
from .inner_optim import InnerOptimizer


def _expand(x, b: int):
    if isinstance(x, dict):
        return {k: _expand(v, b) for k, v in x.items()}
    return x.unsqueeze(0).expand(b, *x.shape)


def group_batch(task: Task, step: int, b: int, device) -> tuple:
    """The task's training batch for ``step``, shared (expanded, not copied) by ``b`` runs."""
    inputs, targets = task.train_batch(step, device=device)
    return _expand(inputs, b), _expand(targets, b)


def make_loss_fn(template: nn.Module, task: Task) -> Callable:
    """``loss(params, buffers, inputs, targets)`` for one run, for vmap."""

    def loss_fn(params, buffers, inputs, targets):
        if isinstance(inputs, dict):
            out = functional_call(template, (params, buffers), args=(), kwargs=inputs)
        else:
            out = functional_call(template, (params, buffers), (inputs,))
        return task.loss(out, targets)

    return loss_fn


def _cosines(a: dict[str, Tensor], a_norm: Tensor, b: dict[str, Tensor] | None) -> Tensor:
    """Per-run cosine between two stacked parameter dicts, ``a``'s norms given: ``[B]`` (0 when
    ``b`` is None or zero)."""
    if b is None:
        return torch.zeros_like(a_norm)
    dot = sum((a[k].detach() * b[k]).flatten(1).sum(1) for k in a)
    return torch.clamp(dot / (a_norm * _norms(b) + 1e-12), -1.0, 1.0)


def _norms(tensors: dict[str, Tensor]) -> Tensor:
    """Per-run L2 norm over all entries of stacked tensors: ``[B]``."""
    sq = sum(t.detach().pow(2).flatten(1).sum(1) for t in tensors.values())
    return torch.sqrt(sq)


@dataclass
class RunGroup:
    task: Task
    template: nn.Module
    loss_fn: Callable
    inner_opt: InnerOptimizer
    params: dict
    buffers: dict
    opt_state: dict
    feat: dict
    ctrl: dict
    base_lr: Tensor                 # [B]
    horizon: int
    show_progress: bool
    step: int = 0
    update_ratio: Tensor | None = None   # [B]
    prev_update: dict | None = None      # each param's last update (for grad_align); None before the first
    log_loss0: Tensor | None = None      # [B] log of the first training loss
    alive: Tensor | None = None          # [B] bool: not diverged
    val_every: int = 0                   # observe the validation loss every N steps (0: never)
    extra: dict = field(default_factory=dict)  # estimator state (e.g. PES perturbation sums)

    @property
    def size(self) -> int:
        return self.base_lr.shape[0]

    @property
    def done(self) -> bool:
        return self.step >= self.horizon

    @property
    def device(self):
        return self.base_lr.device

    def detach_(self) -> None:
        """Cut the graph between truncations: state carries over, gradients do not."""
        self.params = {k: v.detach() for k, v in self.params.items()}
        self.opt_state = map_tensors(Tensor.detach, self.opt_state)
        self.ctrl = {k: v.detach() for k, v in self.ctrl.items()}


def map_tensors(fn: Callable[[Tensor], Tensor], tree):
    """Apply ``fn`` to every tensor in a nest of dicts, lists and tuples (other leaves unchanged)."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: map_tensors(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_tensors(fn, v) for v in tree)
    return tree


def start_group(
    task: Task,
    inner_opt: InnerOptimizer,
    base_lrs: list[float],
    horizon: int,
    controller_state: Callable[[int], dict],
    *,
    init_seeds: list[int],
    show_progress: bool = True,
    device=None,
    val_every: int = 0,
) -> RunGroup:
    """Fresh runs of ``task``: one model per init seed, stacked for vmap.

    ``val_every > 0`` feeds the runs' validation loss to the features every
    ``val_every`` steps, as a deployed wrapper's ``observe(val_loss=...)`` does.
    """
    if len(base_lrs) != len(init_seeds):
        raise ValueError(f"need one base LR per init seed, got {len(base_lrs)} and {len(init_seeds)}")
    models = [task.init_model(s).to(device) for s in init_seeds]
    params, buffers = stack_module_state(models)
    params = {k: v.detach() for k, v in params.items()}
    template = models[0].to("meta")
    b = len(init_seeds)
    opt_state = vmap(inner_opt.init)(params)
    return RunGroup(
        task=task,
        template=template,
        loss_fn=make_loss_fn(template, task),
        inner_opt=inner_opt,
        params=params,
        buffers=buffers,
        opt_state=opt_state,
        feat=F.init(b, device=device),
        ctrl=controller_state(b),
        base_lr=torch.tensor(base_lrs, dtype=torch.float32, device=device),
        horizon=horizon,
        show_progress=show_progress,
        update_ratio=torch.zeros(b, device=device),
        alive=torch.ones(b, dtype=torch.bool, device=device),
        val_every=val_every,
    )


@torch.no_grad()
def validation_loss(group: RunGroup) -> Tensor:
    """Per-run validation loss, in eval mode and weighted as ``Task.evaluate`` weighs batches: ``[B]``."""
    was_training = group.template.training
    group.template.eval()
    try:
        params = {k: v.detach() for k, v in group.params.items()}
        total, n = 0.0, 0
        for inputs, targets in group.task.val_batches(group.device):
            k = group.task.val_weight(targets)
            loss = vmap(group.loss_fn, in_dims=(0, 0, None, None), randomness="different")(
                params, group.buffers, inputs, targets)
            total, n = total + loss * k, n + k
    finally:
        group.template.train(was_training)
    return total / max(n, 1)


def meta_loss_terms(group: RunGroup, inputs, targets) -> Tensor:
    """Per-run loss at the current parameters with the graph attached: ``[B]``."""
    return vmap(group.loss_fn, randomness="different")(group.params, group.buffers, inputs, targets)


def inner_step(group: RunGroup, controller_fn: Callable, *, second_order: bool = False,
               divergence_factor: float = 3.0, batch: tuple | None = None) -> Tensor:
    """Advance every run of ``group`` by one step; return the detached per-run loss ``[B]``.

    ``controller_fn(features [B, F], state, ok [B]) -> state`` is the
    controller (shared weights, or per-run weights for PES). ``batch`` is this
    step's batch when the caller already made it.
    """
    inputs, targets = batch if batch is not None else group_batch(group.task, group.step, group.size, group.device)
    grad_params = group.params if second_order else {k: v.detach() for k, v in group.params.items()}
    grads, loss = vmap(grad_and_value(group.loss_fn), randomness="different")(
        grad_params, group.buffers, inputs, targets
    )
    if not second_order:
        grads = {k: v.detach() for k, v in grads.items()}
    loss_d = loss.detach()
    if group.log_loss0 is None:
        group.log_loss0 = torch.log(torch.clamp(loss_d, min=1e-12))

    progress = None
    if group.show_progress:
        progress = torch.full((group.size,), min(group.step / group.horizon, 1.0), device=group.device)
    grad_norm = _norms(grads)
    feats, group.feat, ok = F.update(
        group.feat, loss=loss_d, grad_norm=grad_norm, update_ratio=group.update_ratio,
        log_mult=group.ctrl["log_mult"], grad_align=_cosines(grads, grad_norm, group.prev_update),
        progress=progress,
    )
    group.ctrl = controller_fn(feats, group.ctrl, ok)

    # A diverged run stops moving (lr 0) until the truncation ends and it is reset.
    log_ratio = torch.log(torch.clamp(loss_d, min=1e-12)) - group.log_loss0
    group.alive = group.alive & torch.isfinite(loss_d) & (log_ratio < math.log(divergence_factor))
    lr = group.base_lr * torch.exp(group.ctrl["log_mult"])
    lr = torch.where(group.alive, lr, torch.zeros_like(lr))

    old = {k: v.detach() for k, v in group.params.items()}
    group.params, group.opt_state = vmap(group.inner_opt.step)(group.params, grads, group.opt_state, lr)
    delta = {k: group.params[k].detach() - old[k] for k in old}
    ratio = _norms(delta) / (_norms(group.params) + 1e-12)
    group.update_ratio = torch.nan_to_num(ratio, nan=0.0, posinf=1e6)
    group.prev_update = delta
    group.step += 1
    if group.val_every and group.step % group.val_every == 0:
        group.feat = F.observe_val(group.feat, validation_loss(group))
    return loss_d


def shared_controller_fn(controller: nn.Module) -> Callable:
    """The controller with one set of weights for every run (TBPTT)."""
    return lambda feats, state, ok: controller(feats, state, ok)


def per_run_controller_fn(controller: nn.Module, params: dict[str, Tensor]) -> Callable:
    """The controller with per-run weights ``params`` (each ``[B, ...]``), for PES."""

    def one(p, feats, state, ok):
        out = functional_call(controller, p, (feats.unsqueeze(0), {k: v.unsqueeze(0) for k, v in state.items()},
                                              ok.unsqueeze(0)))
        return {k: v.squeeze(0) for k, v in out.items()}

    batched = vmap(one)
    return lambda feats, state, ok: batched(params, feats, state, ok)

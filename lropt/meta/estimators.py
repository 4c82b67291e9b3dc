"""Meta-gradient estimators over one truncation of a :class:`RunGroup`.

The meta-objective of a run is the weighted mean over its steps of
``w(t) * min(log L_t - log L_0, loss_cap)``: the log training loss relative to
the run's first loss (scale-free across tasks), capped so a diverging run
gives a bounded, informative penalty. The weight ``w(t) = (p + 1) (t / T)^p``
(mean 1 over the run) moves the emphasis from "fast early progress" (``p =
0``: the area under the log-loss curve) towards "low loss at the end" (large
``p``); measured on noisy quadratics, ``p = 0`` teaches LRs ~2x above the best
constant for the final loss. Summed over all truncations of a run it is the
objective of the *whole* run.

With ``estimator.objective = "val"`` (PES only), each truncation is scored
once, by the validation loss at its end, in place of the training losses of
its steps: on tasks with a finite training set the training loss keeps
falling while the validation loss turns up, and only the validation loss
rewards an LR that anneals before the model overfits.

- ``tbptt`` (default, cheapest): truncated backprop, first order — within a
  truncation the meta-gradient flows through the LRs and the parameter path,
  gradients of the inner loss are treated as constants.
- ``tbptt2``: the same with second derivatives (gradients built with a graph).
- ``pes``: persistent evolution strategies with antithetic pairs; the
  perturbations accumulate over the truncations of a run, which makes the
  estimate unbiased for the full-run objective (no short-horizon bias) at the
  price of variance. Runs ``2i`` and ``2i+1`` of a group are a pair (same
  init and base LR, perturbations ``+eps`` and ``-eps``).

Each returns ``(grads or None, meta_loss float, info)``; for the TBPTT variants
the gradient is left in ``controller.parameters()``' ``.grad`` by ``backward``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .unroll import (RunGroup, group_batch, inner_step, meta_loss_terms, per_run_controller_fn,
                     shared_controller_fn, validation_loss)


def time_weight(step: int, horizon: int, power: float) -> float:
    """``(p + 1) (t / T)^p``: the weight of step ``t`` of a ``T``-step run (mean 1 over the run)."""
    return (power + 1.0) * (min(step, horizon) / horizon) ** power


def _capped_log_ratio(group: RunGroup, loss: Tensor, step: int, cap: float, power: float) -> Tensor:
    """The weighted meta-loss term of every run for its loss ``loss`` at ``step``."""
    log_ratio = torch.log(torch.clamp(loss, min=1e-12)) - group.log_loss0
    term = torch.clamp(log_ratio, max=cap)
    # A dead (diverged) run contributes the cap, with no gradient.
    term = torch.where(group.alive & torch.isfinite(term), term, torch.full_like(term, cap).detach())
    return term * time_weight(step, group.horizon, power)


def tbptt(group: RunGroup, controller: nn.Module, k: int, *, cap: float, power: float = 0.0,
          second_order: bool = False, divergence_factor: float = 3.0) -> tuple[None, float, dict]:
    """Run ``k`` steps with the graph attached and backprop the mean meta-loss term."""
    fn = shared_controller_fn(controller)
    terms = []
    for j in range(k):
        if group.done:
            break
        batch = group_batch(group.task, group.step, group.size, group.device)
        if j > 0:  # the loss here depends on this truncation's LRs
            terms.append(_capped_log_ratio(group, meta_loss_terms(group, *batch), group.step, cap, power))
        inner_step(group, fn, second_order=second_order, divergence_factor=divergence_factor, batch=batch)
    batch = group_batch(group.task, group.step, group.size, group.device)
    terms.append(_capped_log_ratio(group, meta_loss_terms(group, *batch), group.step, cap, power))
    meta_loss = torch.stack(terms).mean()
    if meta_loss.requires_grad:
        meta_loss.backward()
    group.detach_()
    return None, float(meta_loss.detach()), {"steps": len(terms)}


def pes_init(group: RunGroup, controller: nn.Module) -> None:
    """Start a run group's accumulated perturbations at zero."""
    if group.size % 2:
        raise ValueError(f"PES needs an even number of runs per group (antithetic pairs), got {group.size}")
    group.extra["xi"] = {n: torch.zeros(group.size // 2, *p.shape, device=p.device)
                         for n, p in controller.named_parameters()}


@torch.no_grad()
def pes(group: RunGroup, controller: nn.Module, k: int, *, sigma: float, cap: float,
        generator: torch.Generator, power: float = 0.0, divergence_factor: float = 3.0,
        objective: str = "train") -> tuple[dict, float, dict]:
    """One PES truncation: perturb, unroll ``k`` steps, return the gradient estimate.

    ``objective="train"`` scores each step's training-batch loss; ``"val"`` scores
    the validation loss once, at the end of the truncation, so the controller is
    rewarded for what a user measures (a run that overfits scores worse as it goes on).
    """
    if objective not in ("train", "val"):
        raise ValueError(f"objective must be 'train' or 'val', got {objective!r}")
    if "xi" not in group.extra:
        pes_init(group, controller)
    pairs = group.size // 2
    per_run, eps = {}, {}
    for name, p in controller.named_parameters():
        e = torch.randn(pairs, *p.shape, generator=generator, device="cpu").to(p.device) * sigma
        eps[name] = e
        signed = torch.stack([e, -e], dim=1).reshape(group.size, *p.shape)
        per_run[name] = p.detach().unsqueeze(0) + signed
        group.extra["xi"][name] = group.extra["xi"][name] + e
    fn = per_run_controller_fn(controller, per_run)
    total = torch.zeros(group.size, device=group.device)
    steps = 0
    for _ in range(k):
        if group.done:
            break
        step = group.step
        loss = inner_step(group, fn, divergence_factor=divergence_factor)
        if objective == "train":
            total = total + _capped_log_ratio(group, loss, step, cap, power)
        steps += 1
    if objective == "val":
        per_run_loss = _capped_log_ratio(group, validation_loss(group), group.step, cap, power)
    else:
        per_run_loss = total / max(steps, 1)
    diff = per_run_loss.reshape(pairs, 2)
    diff = diff[:, 0] - diff[:, 1]                      # L(+) - L(-) per pair
    grads = {}
    for name, xi in group.extra["xi"].items():
        shape = (pairs,) + (1,) * (xi.dim() - 1)
        grads[name] = (xi * diff.reshape(shape)).mean(0) / (2 * sigma**2)
    return grads, float(per_run_loss.mean()), {"steps": steps}

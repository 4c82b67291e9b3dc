"""Hypergradient descent (Baydin et al., 2018): SGD and Adam that adapt their own LR online.

The derivative of this step's loss with respect to the previous step's LR is
``-g_t . d_{t-1}``, where ``g_t`` is the current gradient and ``d_{t-1}`` the
previous update direction (the step divided by its LR). Hypergradient descent
follows it: the LR grows while consecutive directions agree (the last step was
too short) and shrinks when they disagree (it overshot).

We use the paper's *multiplicative*, normalised form of the rule::

    scale_t = clamp(scale_{t-1} * (1 + beta * cos(g_t, d_{t-1})), min_scale, max_scale)
    lr_t    = group["lr"] * scale_t

rather than the additive ``lr_t = lr_{t-1} + beta * g_t . d_{t-1}``, because the
additive ``beta`` has units (it depends on the gradient's scale, the parameter
count and the base LR, so a ``beta`` that helps one problem makes another
diverge), while the cosine is in ``[-1, 1]``: one step changes the LR by at
most a factor ``1 +- beta``, whatever the problem.

``beta`` default, 0.02: the LR can move by at most 2% per step (about 7x in
100 steps of perfectly aligned gradients), fast enough to repair a 10x-too-small
LR within a few hundred steps, slow enough that noise in the cosine (it
averages near zero on a noisy minibatch problem) does not random-walk the LR
far. ``max_scale`` (100) bounds the damage of a long run of aligned gradients;
``min_scale`` (1e-3) keeps the LR from collapsing to 0 after a loss spike.

``group["lr"]`` stays the *base* LR, so a scheduler stepping the group still
works (it scales the adapted LR); :meth:`effective_lrs` gives the LR actually
used. Everything stays on the parameters' device; no step synchronises with
the host.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

_TINY = 1e-30


def _check(name: str, value: float, lo: float, hi: float | None = None, *, lo_open: bool = False) -> None:
    """Raise a ValueError naming ``name`` unless ``lo <= value (<= hi)``."""
    bad = value <= lo if lo_open else value < lo
    if bad or (hi is not None and value > hi) or value != value:
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}]"
        raise ValueError(f"{name} must be in {rng}, got {value}")


class _HypergradientOptimizer(torch.optim.Optimizer):
    """Shared LR adaptation; subclasses implement :meth:`_directions` (the update direction per parameter)."""

    def __init__(self, params, defaults: dict):
        _check("lr", defaults["lr"], 0.0, lo_open=True)
        _check("beta", defaults["beta"], 0.0, 1.0)
        _check("min_scale", defaults["min_scale"], 0.0, lo_open=True)
        _check("max_scale", defaults["max_scale"], defaults["min_scale"])
        _check("weight_decay", defaults["weight_decay"], 0.0)
        super().__init__(params, defaults)

    # -- the adaptation ---------------------------------------------------------------

    def _scale_state(self, group: dict) -> dict:
        """Group-level state (the LR scale), kept with the group's first parameter so it is saved."""
        first = group["params"][0]
        state = self.state[first]
        if "hd_scale" not in state:
            state["hd_scale"] = torch.ones((), dtype=first.dtype, device=first.device)
        return state

    def _adapt(self, group: dict, grads: list[Tensor], prev_dirs: list[Tensor]) -> Tensor:
        """Update the group's LR scale from cos(current gradient, previous direction); return the new LR."""
        dot = sum((g * d).sum() for g, d in zip(grads, prev_dirs))
        g_sq = sum(g.square().sum() for g in grads)
        d_sq = sum(d.square().sum() for d in prev_dirs)
        cos = dot / (g_sq * d_sq).sqrt().clamp_min(_TINY)  # 0 on the first step (no previous direction)
        state = self._scale_state(group)
        state["hd_scale"] = (state["hd_scale"] * (1 + group["beta"] * cos)).clamp(
            group["min_scale"], group["max_scale"])
        return group["lr"] * state["hd_scale"]

    def effective_lrs(self) -> list[float]:
        """The LR each group actually uses (base LR times the adapted scale). Synchronises: call to log."""
        return [group["lr"] * float(self._scale_state(group)["hd_scale"]) for group in self.param_groups]

    # -- the step -----------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [self._loss_grad(group, p) for p in params]
            prev = [self._param_state(p)["prev_direction"] for p in params]
            lr = self._adapt(group, grads, prev)
            for p, d in zip(params, self._directions(group, params, grads)):
                self.state[p]["prev_direction"] = d
                p.addcmul_(d, lr, value=-1)
        return loss

    def _param_state(self, p: Tensor) -> dict:
        state = self.state[p]
        if "prev_direction" not in state:
            state["prev_direction"] = torch.zeros_like(p)
        return state

    def _loss_grad(self, group: dict, p: Tensor) -> Tensor:
        if p.grad.is_sparse:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if group["weight_decay"] != 0 and not group.get("decoupled_weight_decay", False):
            return p.grad.add(p, alpha=group["weight_decay"])
        return p.grad

    def _directions(self, group: dict, params: list[Tensor], grads: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError


class HDSGD(_HypergradientOptimizer):
    """SGD (momentum, Nesterov, L2 weight decay) whose LR follows the hypergradient. See the module doc."""

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, beta: float = 0.02, min_scale: float = 1e-3,
                 max_scale: float = 100.0):
        _check("momentum", momentum, 0.0, 1.0)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True requires momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      beta=beta, min_scale=min_scale, max_scale=max_scale))

    def _directions(self, group, params, grads):
        momentum = group["momentum"]
        if momentum == 0:
            return [g.clone() for g in grads]
        out = []
        for p, g in zip(params, grads):
            state = self.state[p]
            buf = state.get("momentum_buffer")
            buf = g.clone() if buf is None else buf.mul_(momentum).add_(g)
            state["momentum_buffer"] = buf
            out.append(g.add(buf, alpha=momentum) if group["nesterov"] else buf.clone())
        return out


class HDAdam(_HypergradientOptimizer):
    """Adam (or AdamW, ``decoupled_weight_decay=True``) whose LR follows the hypergradient. See the module doc."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, beta: float = 0.02,
                 min_scale: float = 1e-3, max_scale: float = 100.0):
        _check("betas[0]", betas[0], 0.0, 1.0)
        _check("betas[1]", betas[1], 0.0, 1.0)
        if max(betas) >= 1.0:
            raise ValueError(f"betas must be < 1, got {tuple(betas)}")
        _check("eps", eps, 0.0)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, beta=beta,
                                      min_scale=min_scale, max_scale=max_scale))

    def _directions(self, group, params, grads):
        """Adam's bias-corrected direction, plus ``weight_decay * p`` when decoupled (AdamW's decay)."""
        beta1, beta2 = group["betas"]
        out = []
        for p, g in zip(params, grads):
            state = self.state[p]
            if "step" not in state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            m = state["exp_avg"].lerp_(g, 1 - beta1)
            v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bc1 = 1 - beta1 ** state["step"]
            bc2_sqrt = (1 - beta2 ** state["step"]) ** 0.5
            d = (m / bc1) / (v.sqrt() / bc2_sqrt + group["eps"])
            if group["decoupled_weight_decay"] and group["weight_decay"] != 0:
                d = d.add(p, alpha=group["weight_decay"])
            out.append(d)
        return out

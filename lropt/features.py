"""The one feature implementation, shared by the wrapper and meta-training.

The controller sees the same numbers whether it runs inside a user's loop
(:class:`lropt.LROptimizerWrapper`) or inside unrolled inner training
(:mod:`lropt.meta`), so the feature code is written once, as pure functions on
a dict of tensors (``init`` / ``update`` / ``observe_val``, in the optax style).

Shapes: every per-group quantity is a tensor of shape ``[G]`` (``G`` parameter
groups); the loss and the validation loss are scalars shared by all groups.
Everything stays on the caller's device and uses ``torch.where`` rather than
Python branches on values, so there is no host sync and the functions are
``torch.func.vmap``-able. Inputs are detached: features are stop-gradient, in
meta-training too (the meta-gradient flows through the learning rates).

Each feature is a clipped log or a difference of logs against a bias-corrected
EMA, scaled to roughly ``[-1, 1]``; non-finite inputs never reach the state
(the state keeps its previous value where ``ok`` is false) and never reach the
features (inputs are sanitised first), so the output is always finite.

``val_vs_best`` is the overfitting signal: the log of the last validation loss
over the lowest seen, 0 while the validation loss keeps improving and positive
for as long as it stays above its best. ``val_delta`` says the same only for
the one evaluation at which the loss turned up. On the overfitting cells of
``attrition-mlp`` and ``grants-mlp`` (default LR and 10x it), the controller of
feature spec 2, which had only ``val_delta``, was still at 2-3x its base LR when
the validation loss turned up and ended 20-50% above its own best.

Group features: the loss, the validation delta and the progress are shared;
the gradient norm, the update-to-weight ratio, the gradient alignment and the
current log-multiplier are computed per parameter group.

``grad_align`` is the hypergradient signal of Baydin et al. (2018) made
scale-free: the cosine between this step's gradient and the previous update.
The derivative of this step's loss with respect to the previous step's LR is
``g_t . u_{t-1} / lr``, so a positive cosine says the last step overshot (a
smaller LR would have done better) and a negative one that it fell short.
Measured with AdamW on digits-mlp, digits-cnn and titanic, its EMA reads about
-0.35 at the default LR but about 0 at ten times it within the first 5% of a
run, and by a quarter of the run about -0.5 at a tenth of the default against
-0.1 to -0.2 at the default: an input that tells "LR too high" from "LR fine"
before the loss shows it. (On a sparse bag-of-words task it stays near 0 at
every LR.)
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

#: Feature names, in the order of the last dimension of :func:`update`'s output.
FEATURE_NAMES: tuple[str, ...] = (
    "loss_vs_slow",      # log loss minus its slow EMA: is this step's loss high or low?
    "loss_trend",        # fast EMA minus slow EMA of log loss: is the loss falling?
    "loss_vs_start",     # log loss minus log of the first loss: progress / divergence
    "grad_vs_slow",      # log grad norm minus its slow EMA: gradient spikes
    "val_delta",         # change of log validation loss between the last two observe() calls
    "progress",          # step / total_steps, clipped to [0, 1]; 0 when unknown
    "has_progress",      # 1 when total_steps is known
    "update_ratio",      # log10(|update| / |weights|) of the previous step, centred at 1e-3
    "log_mult",          # the controller's current log-multiplier, scaled
    "grad_align",        # fast EMA of cos(gradient, previous update): > 0 overshooting, < 0 LR too small
    "val_vs_best",       # log of the last validation loss over the best so far: > 0 once it has turned up
)

#: Bumped whenever a feature's definition changes; controller files record it.
#: Version 1 had the first nine names; version 2 appended ``grad_align``, version 3 ``val_vs_best``.
FEATURE_VERSION = 3

#: Scale of the signed log that spreads ``grad_align`` over [-1, 1]: a cosine of
#: 0.01 (typical of noisy, high-dimensional gradients) reads about 0.15, 0.1 about 0.5.
ALIGN_SCALE = 100.0

#: ``val_vs_best`` reads ``clip(log(last val / best val), 0, VAL_VS_BEST_CLIP) / VAL_VS_BEST_CLIP``.
VAL_VS_BEST_CLIP = 0.3

FAST_BETA = 0.9
SLOW_BETA = 0.99
_TINY = 1e-12


def feature_spec() -> dict:
    """The spec a controller file records, so a mismatched controller is refused."""
    return {"version": FEATURE_VERSION, "names": list(FEATURE_NAMES)}


def num_features() -> int:
    return len(FEATURE_NAMES)


def init(num_groups: int, *, device=None, dtype=torch.float32) -> dict[str, Tensor]:
    """Fresh feature statistics for ``num_groups`` parameter groups."""
    z = torch.zeros(num_groups, device=device, dtype=dtype)
    return {
        "count": z.clone(),          # accepted updates per group (for EMA bias correction)
        "loss_fast": z.clone(),      # raw EMAs of log loss (debiased on read)
        "loss_slow": z.clone(),
        "loss_first": z.clone(),     # log loss at the first accepted update
        "loss_last": z.clone(),      # last finite log loss (stands in when a step has no loss)
        "grad_slow": z.clone(),      # raw slow EMA of log grad norm
        "align_fast": z.clone(),     # raw fast EMA of cos(gradient, previous update)
        "val_last": z.clone(),       # last finite log validation loss
        "val_delta": z.clone(),      # change between the last two validation losses
        "val_seen": z.clone(),       # number of finite validation losses observed
        "val_best": z.clone(),       # lowest finite log validation loss observed
    }


def _safe_log(x: Tensor) -> Tensor:
    """log(x) for x >= 0 with NaN/inf/negatives mapped to finite values."""
    x = torch.nan_to_num(x, nan=1.0, posinf=1e30, neginf=0.0)
    return torch.log(torch.clamp(x, min=_TINY, max=1e30))


def _ema(old: Tensor, x: Tensor, beta: float) -> Tensor:
    return beta * old + (1.0 - beta) * x


def _debias(ema: Tensor, count: Tensor, beta: float) -> Tensor:
    return ema / (1.0 - torch.pow(torch.full_like(count, beta), count).clamp(max=1.0 - 1e-12))


def _signed_log(x: Tensor, scale: float) -> Tensor:
    """``sign(x) log(1 + scale |x|) / log(1 + scale)``: maps [-1, 1] onto itself, stretching small values."""
    return torch.sign(x) * torch.log1p(scale * x.abs().clamp(max=1.0)) / math.log1p(scale)


def _scaled_clip(x: Tensor, lo: float, hi: float, scale: float) -> Tensor:
    return torch.clamp(x, lo, hi) / scale


def update(
    state: dict[str, Tensor],
    *,
    loss: Tensor | None,
    grad_norm: Tensor,
    update_ratio: Tensor,
    log_mult: Tensor,
    grad_align: Tensor,
    progress: Tensor | None = None,
    steps: int = 1,
) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """Fold one controller call (``steps`` training steps) into the statistics and return its features.

    Args:
        state: from :func:`init` or a previous call.
        loss: scalar training loss of this step, or ``None`` when the caller has
            none (the loss features then read as "no change").
        grad_norm: ``[G]`` L2 norm of each group's gradient.
        update_ratio: ``[G]`` |previous update| / |weights| per group (0 before
            the first update).
        log_mult: ``[G]`` the controller's current log-multiplier.
        grad_align: ``[G]`` cosine between this step's gradient and the previous
            update of each group (0 when there is no previous update).
        progress: scalar ``step / total_steps`` or ``None`` when unknown.
        steps: the training steps this call stands for (the wrapper's ``every``): the averages
            decay by ``beta ** steps``, so their time constants stay in training steps.

    Returns:
        ``(features [G, F], new_state, ok [G])`` where ``ok`` is false for groups
        whose loss or gradient norm was not finite; the state of those groups is
        left unchanged and the caller should not act on their features.
    """
    count = state["count"]
    grad_norm = grad_norm.detach().to(count.dtype)
    ok = torch.isfinite(grad_norm)
    if loss is None:
        log_loss = state["loss_last"]
    else:
        loss = loss.detach().to(count.dtype)
        ok = ok & torch.isfinite(loss)
        log_loss = _safe_log(loss).expand_as(count)
    log_grad = _safe_log(grad_norm)

    c1 = count + 1.0
    fast_beta, slow_beta = FAST_BETA ** steps, SLOW_BETA ** steps
    loss_fast = _ema(state["loss_fast"], log_loss, fast_beta)
    loss_slow = _ema(state["loss_slow"], log_loss, slow_beta)
    grad_slow = _ema(state["grad_slow"], log_grad, slow_beta)
    cos = torch.clamp(torch.nan_to_num(grad_align.detach().to(count.dtype), nan=0.0), -1.0, 1.0)
    align_fast = _ema(state["align_fast"], cos, fast_beta)
    loss_first = torch.where(count == 0, log_loss, state["loss_first"])

    fast_hat = _debias(loss_fast, c1, fast_beta)
    slow_hat = _debias(loss_slow, c1, slow_beta)
    grad_hat = _debias(grad_slow, c1, slow_beta)
    align_hat = _debias(align_fast, c1, fast_beta)

    if progress is None:
        prog = torch.zeros_like(count)
        has_prog = torch.zeros_like(count)
    else:
        prog = torch.clamp(torch.nan_to_num(progress.to(count.dtype), nan=0.0), 0.0, 1.0).expand_as(count)
        has_prog = torch.ones_like(count)
    ratio = _safe_log(update_ratio.detach().to(count.dtype)) / math.log(10.0)

    feats = torch.stack(
        [
            _scaled_clip(log_loss - slow_hat, -3.0, 3.0, 3.0),
            _scaled_clip(fast_hat - slow_hat, -3.0, 3.0, 3.0),
            _scaled_clip(log_loss - loss_first, -6.0, 3.0, 3.0),
            _scaled_clip(log_grad - grad_hat, -3.0, 3.0, 3.0),
            _scaled_clip(state["val_delta"], -0.3, 0.3, 0.3),
            prog,
            has_prog,
            _scaled_clip(ratio + 3.0, -4.0, 4.0, 4.0),
            _scaled_clip(torch.nan_to_num(log_mult.detach().to(count.dtype)), -5.0, 5.0, 5.0),
            _signed_log(align_hat, ALIGN_SCALE),
            _scaled_clip(state["val_last"] - state["val_best"], 0.0, VAL_VS_BEST_CLIP, VAL_VS_BEST_CLIP),
        ],
        dim=-1,
    )

    def keep(new: Tensor, old: Tensor) -> Tensor:
        return torch.where(ok, new, old)

    new_state = dict(state)
    new_state.update(
        count=keep(c1, count),
        loss_fast=keep(loss_fast, state["loss_fast"]),
        loss_slow=keep(loss_slow, state["loss_slow"]),
        loss_first=keep(loss_first, state["loss_first"]),
        loss_last=keep(log_loss, state["loss_last"]),
        grad_slow=keep(grad_slow, state["grad_slow"]),
        align_fast=keep(align_fast, state["align_fast"]),
    )
    return feats, new_state, ok


def observe_val(state: dict[str, Tensor], val_loss: Tensor) -> dict[str, Tensor]:
    """Record a validation loss; the ``val_delta`` feature becomes the change of its log.

    A non-finite or non-positive validation loss is ignored: its log means nothing, and a
    floor value would stand as the best for the rest of the run (``val_vs_best``).
    """
    count = state["count"]
    val_loss = val_loss.detach().to(count.dtype)
    ok = (torch.isfinite(val_loss) & (val_loss > 0)).expand_as(count)
    log_val = _safe_log(val_loss).expand_as(count)
    seen = state["val_seen"] > 0
    delta = torch.where(seen, log_val - state["val_last"], torch.zeros_like(count))
    best = torch.where(seen, torch.minimum(state["val_best"], log_val), log_val)
    new_state = dict(state)
    new_state.update(
        val_last=torch.where(ok, log_val, state["val_last"]),
        val_delta=torch.where(ok, delta, state["val_delta"]),
        val_seen=torch.where(ok, state["val_seen"] + 1.0, state["val_seen"]),
        val_best=torch.where(ok, best, state["val_best"]),
    )
    return new_state


def restore(saved: dict[str, Tensor], num_groups: int, *, device=None) -> dict[str, Tensor]:
    """Statistics saved by this or an older lropt, on ``device``: keys an older version lacked start
    fresh, except ``val_best`` (spec 3), which starts at the last validation loss seen."""
    state = init(num_groups, device=device)
    state.update({k: v.to(device) for k, v in saved.items()})
    if "val_best" not in saved and "val_last" in saved:
        state["val_best"] = state["val_last"].clone()
    return state


def extend(state: dict[str, Tensor], num_new: int) -> dict[str, Tensor]:
    """Append fresh statistics for ``num_new`` groups (``add_param_group``).

    The shared validation statistics are copied from group 0 so every group
    sees the same validation delta.
    """
    fresh = init(num_new, device=state["count"].device, dtype=state["count"].dtype)
    shared = ("val_last", "val_delta", "val_seen", "val_best")
    out = {}
    for k, v in state.items():
        add = v[:1].expand(num_new).clone() if (k in shared and v.numel()) else fresh[k]
        out[k] = torch.cat([v, add])
    return out

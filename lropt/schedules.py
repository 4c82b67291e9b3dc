"""Baseline LR schedules and optimiser-replacing methods by name, for ``lropt compare``.

Two entry points:

- :func:`make_schedule` ``(name, optimizer, total_steps, **overrides)`` wraps an
  existing optimiser in one of :data:`SCHEDULES`, thin over
  ``torch.optim.lr_scheduler`` (``LambdaLR`` for the shapes torch lacks);
- :func:`make_method` ``(name, params, base_lr, total_steps, optimizer="adamw")``
  builds the optimiser too, so the baselines that *replace* it (schedule-free
  AdamW, Prodigy, hypergradient descent) sit in the same table. It returns
  ``(optimizer, schedule, hooks)``; call ``hooks.train()`` before training and
  ``hooks.eval()`` before evaluating (no-ops except for schedule-free).

Every knob is relative (fractions of ``total_steps`` or of the base LR), so one
setting serves every task and every base LR on a tuning grid. Defaults:

=============  ===============================================================
constant       the base LR throughout
step           x0.1 at 50% and 75% of the steps (``MultiStepLR``)
exponential    decays to 1% of the base by the end (``ExponentialLR``)
cyclic         triangular between base/10 and base, 4 cycles (``CyclicLR``)
cosine         cosine from the base to 0 (``CosineAnnealingLR``)
onecycle       one-cycle with ``max_lr`` = base (``OneCycleLR``, torch defaults)
warmup_cosine  linear warmup over 5% of the steps, then cosine to 0
warmup_linear  linear warmup over 10% of the steps, then linear decay to 0 (HF Trainer's)
wsd            warmup 10%, stable, linear decay to 0 over the last 20%
plateau        x0.1 when the validation loss stalls for 5% of the steps
=============  ===============================================================

A :class:`Schedule` is stepped once per training step. The LR for steps past
``total_steps`` stays at the last scheduled value (a cosine does not climb back
up, one-cycle does not raise).
"""
from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import lr_scheduler

from .hypergradient import HDAdam, HDSGD
from .tasks.base import DEFAULT_BASE_LRS

SCHEDULES: tuple[str, ...] = (
    "constant", "step", "exponential", "cyclic", "cosine", "onecycle", "warmup_cosine", "warmup_linear", "wsd",
    "plateau",
)
OPTIMIZER_METHODS: tuple[str, ...] = ("schedulefree", "prodigy", "hypergradient")
METHODS: tuple[str, ...] = SCHEDULES + OPTIMIZER_METHODS
OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "sgd")

#: Each schedule's knobs and their defaults (overridable through ``**overrides``).
SCHEDULE_DEFAULTS: dict[str, dict[str, Any]] = {
    "constant": {},
    "step": {"milestones": (0.5, 0.75), "gamma": 0.1},
    "exponential": {"final_fraction": 0.01},
    "cyclic": {"low_fraction": 0.1, "cycles": 4, "mode": "triangular"},
    "cosine": {"final_fraction": 0.0},
    "onecycle": {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4, "anneal_strategy": "cos"},
    "warmup_cosine": {"warmup_fraction": 0.05, "final_fraction": 0.0},
    "warmup_linear": {"warmup_fraction": 0.1},
    "wsd": {"warmup_fraction": 0.1, "decay_fraction": 0.2, "final_fraction": 0.0, "decay_shape": "linear"},
    "plateau": {"factor": 0.1, "patience_fraction": 0.05, "threshold": 1e-4, "min_fraction": 0.0},
}


# ------------------------------------------------------------------------------------ errors


def unknown_name_error(kind: str, name: Any, known: Iterable[str]) -> ValueError:
    """A ValueError for an unknown ``kind`` name, suggesting close matches."""
    known = list(known)
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})")


def _number(field: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a float inside the given interval, or a ValueError naming ``field``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    too_low = x <= lo if lo_open else x < lo
    too_high = x >= hi if hi_open else x > hi
    if math.isnan(x) or too_low or too_high:
        rng = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{field} must be in {rng}, got {value!r}")
    return x


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def _check_total_steps(total_steps: Any) -> int:
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
    return total_steps


def _resolve(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The schedule's defaults updated with ``overrides``, refusing unknown knobs."""
    defaults = SCHEDULE_DEFAULTS[name]
    for key in overrides:
        if key not in defaults:
            raise unknown_name_error(f"option for schedule {name!r}", key, defaults)
    return {**defaults, **overrides}


# ------------------------------------------------------------------------------ LR shapes


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear ramp reaching 1 at ``warmup_steps``: ``(step + 1) / (warmup_steps + 1)`` before it, 1 after."""
    return min(1.0, (step + 1) / (warmup_steps + 1))


def warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int, final_fraction: float) -> float:
    """LR / base LR for linear warmup then cosine from 1 to ``final_fraction`` at ``total_steps``."""
    if step < warmup_steps:
        return warmup_factor(step, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


_DECAY_SHAPES: dict[str, Callable[[float], float]] = {
    "linear": lambda p: 1 - p,
    "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
    "sqrt": lambda p: 1 - math.sqrt(p),
}


def wsd_factor(step: int, total_steps: int, warmup_steps: int, decay_steps: int, final_fraction: float,
               decay_shape: str = "linear") -> float:
    """LR / base LR for warmup-stable-decay: ramp up, hold 1, decay to ``final_fraction`` over the last steps."""
    if step < warmup_steps:
        return warmup_factor(step, warmup_steps)
    decay_start = total_steps - decay_steps
    if step < decay_start:
        return 1.0
    progress = min(1.0, (step - decay_start) / max(1, decay_steps))
    return final_fraction + (1 - final_fraction) * _DECAY_SHAPES[decay_shape](progress)


# ------------------------------------------------------------------------ schedule builders


def _base_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    return [float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]


def _build_constant(opt, total, cfg):
    return lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def _build_step(opt, total, cfg):
    fractions = list(cfg["milestones"]) if isinstance(cfg["milestones"], (list, tuple)) else None
    if not fractions:
        raise ValueError(f"milestones must be a non-empty list of fractions of total_steps, got {cfg['milestones']!r}")
    fractions = [_number("milestones", f, 0.0, 1.0, lo_open=True) for f in fractions]
    if fractions != sorted(fractions):
        raise ValueError(f"milestones must be increasing, got {cfg['milestones']!r}")
    gamma = _number("gamma", cfg["gamma"], 0.0, 1.0, lo_open=True)
    return lr_scheduler.MultiStepLR(opt, milestones=[round(f * total) for f in fractions], gamma=gamma)


def _build_exponential(opt, total, cfg):
    final = _number("final_fraction", cfg["final_fraction"], 0.0, 1.0, lo_open=True)
    return lr_scheduler.ExponentialLR(opt, gamma=final ** (1.0 / total))


def _build_cyclic(opt, total, cfg):
    low = _number("low_fraction", cfg["low_fraction"], 0.0, 1.0, hi_open=True)
    cycles = _number("cycles", cfg["cycles"], 0.0, math.inf, lo_open=True, hi_open=True)
    mode = _choice("mode", cfg["mode"], ("triangular", "triangular2"))
    bases = _base_lrs(opt)
    return lr_scheduler.CyclicLR(opt, base_lr=[low * b for b in bases], max_lr=bases,
                                 step_size_up=total / (2 * cycles), mode=mode, cycle_momentum=False)


def _build_cosine(opt, total, cfg):
    final = _number("final_fraction", cfg["final_fraction"], 0.0, 1.0)
    bases = _base_lrs(opt)
    if final > 0 and len(set(bases)) > 1:
        raise ValueError("final_fraction > 0 needs every param group at the same LR "
                         "(CosineAnnealingLR's eta_min is one absolute LR); use warmup_cosine with "
                         "warmup_fraction=0 for groups with different LRs")
    return lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=final * bases[0])


def _build_onecycle(opt, total, cfg):
    pct = _number("pct_start", cfg["pct_start"], 0.0, 1.0, lo_open=True, hi_open=True)
    div = _number("div_factor", cfg["div_factor"], 1.0, math.inf)
    final_div = _number("final_div_factor", cfg["final_div_factor"], 1.0, math.inf)
    strategy = _choice("anneal_strategy", cfg["anneal_strategy"], ("cos", "linear"))
    if total < 2:
        raise ValueError(f"onecycle needs total_steps >= 2, got {total}")
    return lr_scheduler.OneCycleLR(opt, max_lr=_base_lrs(opt), total_steps=total, pct_start=pct,
                                   anneal_strategy=strategy, div_factor=div, final_div_factor=final_div,
                                   cycle_momentum=False)


def _build_warmup_cosine(opt, total, cfg):
    warmup = round(_number("warmup_fraction", cfg["warmup_fraction"], 0.0, 1.0, hi_open=True) * total)
    final = _number("final_fraction", cfg["final_fraction"], 0.0, 1.0)
    return lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine_factor(step, total, warmup, final))


def _build_wsd(opt, total, cfg):
    warmup_f = _number("warmup_fraction", cfg["warmup_fraction"], 0.0, 1.0)
    decay_f = _number("decay_fraction", cfg["decay_fraction"], 0.0, 1.0)
    if warmup_f + decay_f > 1.0:
        raise ValueError(f"warmup_fraction + decay_fraction must be <= 1, got {warmup_f} + {decay_f}")
    final = _number("final_fraction", cfg["final_fraction"], 0.0, 1.0)
    shape = _choice("decay_shape", cfg["decay_shape"], tuple(_DECAY_SHAPES))
    warmup, decay = round(warmup_f * total), round(decay_f * total)
    return lr_scheduler.LambdaLR(opt, lambda step: wsd_factor(step, total, warmup, decay, final, shape))


def _build_warmup_linear(opt, total, cfg):
    warmup = round(_number("warmup_fraction", cfg["warmup_fraction"], 0.0, 1.0, hi_open=True) * total)
    return lr_scheduler.LambdaLR(opt, lambda step: wsd_factor(step, total, warmup, total - warmup, 0.0, "linear"))


def _build_plateau(opt, total, cfg):
    factor = _number("factor", cfg["factor"], 0.0, 1.0, lo_open=True, hi_open=True)
    patience = round(_number("patience_fraction", cfg["patience_fraction"], 0.0, 1.0) * total)
    threshold = _number("threshold", cfg["threshold"], 0.0, math.inf)
    low = _number("min_fraction", cfg["min_fraction"], 0.0, 1.0)
    return lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=factor, patience=patience,
                                          threshold=threshold, min_lr=[low * b for b in _base_lrs(opt)])


_BUILDERS = {
    "constant": _build_constant, "step": _build_step, "exponential": _build_exponential,
    "cyclic": _build_cyclic, "cosine": _build_cosine, "onecycle": _build_onecycle,
    "warmup_cosine": _build_warmup_cosine, "warmup_linear": _build_warmup_linear, "wsd": _build_wsd,
    "plateau": _build_plateau,
}


# ------------------------------------------------------------------------------- Schedule


class Schedule:
    """A named schedule over ``total_steps`` training steps; call :meth:`step` once per training step.

    ``plateau`` needs a validation loss: pass the last known one to every
    ``step`` (a repeated value counts as a step without improvement, which is
    why its patience is measured in training steps). Until the first one
    arrives (``val_loss=None``) the LR stays at the base. Other schedules
    ignore ``val_loss``.
    """

    def __init__(self, name: str, optimizer: torch.optim.Optimizer, scheduler: lr_scheduler.LRScheduler,
                 total_steps: int, options: dict[str, Any]):
        self.name = name
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.total_steps = total_steps
        self.options = options
        self.steps_taken = 0

    @property
    def needs_val_loss(self) -> bool:
        return isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau)

    def step(self, val_loss: float | torch.Tensor | None = None) -> None:
        """Advance one training step (``val_loss``: the last known validation loss, for ``plateau``)."""
        self.steps_taken += 1
        if self.needs_val_loss:
            if val_loss is not None:
                self.scheduler.step(float(val_loss))
        elif self.steps_taken < self.total_steps:
            self.scheduler.step()

    def get_last_lr(self) -> list[float]:
        """The step size each param group uses next: the scheduled LR, or for an
        optimiser that sets its own, the LR it actually applies (see :func:`effective_lrs`)."""
        return effective_lrs(self.optimizer)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "steps_taken": self.steps_taken, "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for schedule {state.get('name')!r}, not {self.name!r}")
        self.steps_taken = state["steps_taken"]
        self.scheduler.load_state_dict(state["scheduler"])

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, total_steps={self.total_steps}, options={self.options})"


def effective_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """The LR each param group actually applies, for plots that put every method on one axis.

    ``group["lr"]`` for ordinary optimisers; ``effective_lrs()`` where the
    optimiser defines it (hypergradient); ``d * lr`` for Prodigy (its
    estimated step size times the multiplier); the warmed-up ``scheduled_lr``
    of the last step for schedule-free. Reads Python floats only, except for
    hypergradient, whose LR is a tensor (one sync per group).
    """
    own = getattr(optimizer, "effective_lrs", None)
    if callable(own):
        return [float(lr) for lr in own()]
    out = []
    for group in optimizer.param_groups:
        lr = float(group["lr"])
        if "d" in group and "d0" in group:          # Prodigy
            lr *= float(group["d"])
        elif "scheduled_lr" in group:              # schedule-free, after its first step
            lr = float(group["scheduled_lr"])
        out.append(lr)
    return out


def make_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int, **overrides) -> Schedule:
    """Wrap ``optimizer`` in the schedule ``name`` (see :data:`SCHEDULES` and :data:`SCHEDULE_DEFAULTS`).

    The base LR is each param group's current ``lr``. Unknown names and knobs
    raise a ValueError with close matches; bad values name the knob.
    """
    if name not in _BUILDERS:
        raise unknown_name_error("schedule", name, SCHEDULES)
    total_steps = _check_total_steps(total_steps)
    options = _resolve(name, overrides)
    return Schedule(name, optimizer, _BUILDERS[name](optimizer, total_steps, options), total_steps, options)


# -------------------------------------------------------------------------------- methods


class MethodHooks:
    """``train()`` / ``eval()`` around training and evaluation; no-ops for ordinary optimisers."""

    def __init__(self, optimizer: torch.optim.Optimizer | None = None):
        self.optimizer = optimizer

    def train(self) -> None:
        """Call before training steps."""

    def eval(self) -> None:
        """Call before evaluating the model (and before saving it)."""


class ScheduleFreeHooks(MethodHooks):
    """Schedule-free optimisers evaluate at the averaged point: switch it in and out."""

    def train(self) -> None:
        self.optimizer.train()

    def eval(self) -> None:
        self.optimizer.eval()


#: Constructor defaults per base optimiser name, on top of torch's (SGD means SGD with momentum).
BASE_OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "adamw": {"weight_decay": 0.01},
    "adam": {"weight_decay": 0.0},
    "sgd": {"momentum": 0.9, "weight_decay": 0.0},
}
_TORCH_OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def _kwargs_for(cls: type, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    """Refuse keyword arguments ``cls`` does not take, with close matches."""
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    for key in kwargs:
        if key not in accepted:
            raise unknown_name_error(f"{what} argument for {cls.__name__}", key, accepted)
    return kwargs


def make_optimizer(name: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` / ``Adam`` / ``SGD`` (momentum 0.9) with :data:`BASE_OPTIMIZER_DEFAULTS`."""
    if name not in _TORCH_OPTIMIZERS:
        raise unknown_name_error("optimizer", name, OPTIMIZERS)
    cls = _TORCH_OPTIMIZERS[name]
    return cls(params, lr=lr, **_kwargs_for(cls, {**BASE_OPTIMIZER_DEFAULTS[name], **kwargs}, "optimizer"))


@dataclass
class _Replacement:
    """How an optimiser-replacing method is built from the base optimiser's name and settings."""

    cls: type
    kwargs: dict[str, Any]
    schedule: str
    hooks: type = MethodHooks


def _shared(settings: dict[str, Any], cls: type) -> dict[str, Any]:
    """The base optimiser's settings that ``cls`` also takes (betas, eps, weight decay, momentum)."""
    accepted = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in settings.items() if k in accepted}


def _schedulefree(optimizer: str, base_lr: float, total_steps: int, settings: dict) -> _Replacement:
    import schedulefree

    cls = schedulefree.SGDScheduleFree if optimizer == "sgd" else schedulefree.AdamWScheduleFree
    kwargs = {**_shared(settings, cls), "lr": base_lr, "warmup_steps": round(0.05 * total_steps)}
    return _Replacement(cls, kwargs, "constant", ScheduleFreeHooks)


def _prodigy(optimizer: str, base_lr: float, total_steps: int, settings: dict) -> _Replacement:
    from prodigyopt import Prodigy

    kwargs = {**_shared(settings, Prodigy), "lr": base_lr / DEFAULT_BASE_LRS[optimizer],
              "decouple": optimizer != "adam"}
    return _Replacement(Prodigy, kwargs, "cosine")


def _hypergradient(optimizer: str, base_lr: float, total_steps: int, settings: dict) -> _Replacement:
    if optimizer == "sgd":
        return _Replacement(HDSGD, {**_shared(settings, HDSGD), "lr": base_lr}, "constant")
    kwargs = {**_shared(settings, HDAdam), "lr": base_lr, "decoupled_weight_decay": optimizer == "adamw"}
    return _Replacement(HDAdam, kwargs, "constant")


_REPLACEMENTS = {"schedulefree": _schedulefree, "prodigy": _prodigy, "hypergradient": _hypergradient}


def make_method(name: str, params, base_lr: float, total_steps: int, optimizer: str = "adamw",
                optimizer_kwargs: dict[str, Any] | None = None, **overrides):
    """Build ``(optimizer, schedule, hooks)`` for one method of :data:`METHODS`.

    - a schedule name: ``optimizer`` (``"adamw"``, ``"adam"``, ``"sgd"``) at
      ``base_lr`` with ``optimizer_kwargs``, and ``overrides`` go to
      :func:`make_schedule`;
    - ``"schedulefree"``: ``AdamWScheduleFree`` (``SGDScheduleFree`` for sgd) at
      ``base_lr`` with warmup over 5% of the steps, constant schedule;
      ``hooks.train()/eval()`` switch it between its training and averaged
      points (it is returned in train mode);
    - ``"prodigy"``: ``Prodigy`` with cosine annealing over ``total_steps``. Its
      LR is a multiplier on the LR it estimates, 1.0 by convention; here
      ``lr = base_lr / usual base LR of optimizer`` (1e-3 for Adam-family, 0.1
      for SGD), so the default base LR gives 1.0 and a tuning grid over
      ``base_lr`` scales Prodigy the same way it scales the others;
    - ``"hypergradient"``: :class:`~lropt.hypergradient.HDAdam` (AdamW-style
      decay for adamw) or :class:`~lropt.hypergradient.HDSGD` at ``base_lr``,
      constant schedule.

    For the replacing methods the base optimiser's settings they share
    (betas, eps, weight decay, momentum) carry over (an ``optimizer_kwargs``
    entry with no counterpart is refused), and ``overrides`` go to
    the replacing optimiser's constructor (e.g. ``beta=`` for hypergradient,
    ``warmup_steps=`` for schedulefree, ``lr=`` to set Prodigy's directly).
    """
    if name not in METHODS:
        raise unknown_name_error("method", name, METHODS)
    if optimizer not in _TORCH_OPTIMIZERS:
        raise unknown_name_error("optimizer", optimizer, OPTIMIZERS)
    base_lr = _number("base_lr", base_lr, 0.0, math.inf, lo_open=True, hi_open=True)
    total_steps = _check_total_steps(total_steps)
    optimizer_kwargs = dict(optimizer_kwargs or {})
    if name in SCHEDULES:
        opt = make_optimizer(optimizer, params, base_lr, **optimizer_kwargs)
        return opt, make_schedule(name, opt, total_steps, **overrides), MethodHooks(opt)
    settings = {**BASE_OPTIMIZER_DEFAULTS[optimizer], **optimizer_kwargs}
    _kwargs_for(_TORCH_OPTIMIZERS[optimizer], settings, "optimizer")
    plan = _REPLACEMENTS[name](optimizer, base_lr, total_steps, settings)
    for key in optimizer_kwargs:
        if key not in plan.kwargs:
            raise ValueError(f"optimizer_kwargs {key!r} has no counterpart in {plan.cls.__name__} "
                             f"(method {name!r}); pass its own arguments as keyword overrides instead")
    opt = plan.cls(params, **_kwargs_for(plan.cls, {**plan.kwargs, **overrides}, name))
    hooks = plan.hooks(opt)
    hooks.train()
    return opt, make_schedule(plan.schedule, opt, total_steps), hooks

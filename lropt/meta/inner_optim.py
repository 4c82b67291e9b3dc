"""Functional, differentiable SGD / Adam / AdamW for unrolled inner training.

Meta-training unrolls a few inner optimisation steps and backpropagates a
meta-loss through the learning rates into the controller, so the inner
optimiser must be a pure function of tensors::

    opt = inner_optimizer("adamw", betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    state = opt.init(params)                                   # params: dict[str, Tensor]
    new_params, new_state = opt.step(params, grads, state, lr)

Properties the rest of :mod:`lropt.meta` relies on:

- **pure**: no input is modified in place; autograd flows from ``lr`` (and,
  when the gradients were made with ``create_graph=True``, from ``grads``) to
  the new parameters and state;
- **vmappable**: no Python branch looks at a tensor *value* (the step count is
  a tensor in the state, the first-step momentum rule is arithmetic), so
  ``torch.func.vmap`` can batch params, grads, state and, optionally, ``lr``;
- **numerically torch.optim**: each update is the same sequence of operations
  as ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` (the tests check 100 steps in
  float64 against both the for-loop and the foreach implementations).

``lr`` is a float, a scalar tensor (which may require grad, and may be batched
under vmap), or a mapping from parameter name to such a scalar (one LR per
parameter group).
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Union

import torch
from torch import Tensor

Params = dict[str, Tensor]
State = dict[str, Any]
LR = Union[float, Tensor, Mapping[str, Union[float, Tensor]]]

#: Names accepted by :func:`inner_optimizer`.
INNER_OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")


class InnerOptimizer:
    """Base of the functional optimisers: ``init(params)`` and ``step(params, grads, state, lr)``."""

    name: str = ""

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The constructor arguments, enough to rebuild this optimiser with :func:`inner_optimizer`."""
        raise NotImplementedError

    def init(self, params: Params) -> State:
        raise NotImplementedError

    def step(self, params: Params, grads: Params, state: State, lr: LR) -> tuple[Params, State]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        return f"inner_optimizer({self.name!r}, {args})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and (other.name, other.hyperparams) == (self.name, self.hyperparams)

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.hyperparams.items())))


# --------------------------------------------------------------------------- helpers


def _check_range(name: str, value: float, lo: float, hi: float, *, hi_open: bool = False) -> float:
    """Return ``float(value)`` or raise a ValueError naming the field and the allowed range."""
    value = float(value)
    ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok:
        bracket = ")" if hi_open else "]"
        raise ValueError(f"{name} must be in [{lo}, {hi}{bracket}, got {value}")
    return value


def _step_counter(params: Params) -> Tensor:
    """A zero step count on the parameters' device, in their floating dtype.

    Keeping the count in the parameters' dtype makes ``beta ** step`` as exact
    as torch.optim's own float arithmetic in float64 runs.
    """
    if not params:
        raise ValueError("params is empty: pass a dict of parameter tensors")
    first = next(iter(params.values()))
    dtype = first.dtype if first.is_floating_point() else torch.get_default_dtype()
    return torch.zeros((), dtype=dtype, device=first.device)


def _zeros_like(params: Params) -> Params:
    return {name: torch.zeros_like(p) for name, p in params.items()}


def _check_grads(params: Params, grads: Params) -> None:
    """Refuse a gradient dict that does not match the parameter dict."""
    if grads.keys() != params.keys():
        missing = sorted(set(params) - set(grads))
        extra = sorted(set(grads) - set(params))
        raise ValueError(f"grads must have the same names as params (missing: {missing}, extra: {extra})")


def _lr_for(lr: LR, name: str):
    """This parameter's LR: ``lr`` itself, or ``lr[name]`` when it is a per-parameter mapping."""
    if isinstance(lr, Mapping):
        if name not in lr:
            raise ValueError(f"lr mapping has no entry for parameter {name!r}")
        return lr[name]
    return lr


def _sqrt(x: Tensor) -> Tensor:
    """``x.sqrt()`` whose gradient is 0 (not inf, then NaN) where ``x == 0``.

    Matters when gradients flow through the second moment (second-order
    estimators) and a gradient entry has been exactly zero since the start
    (a dead unit). ``x`` is clamped at the dtype's smallest normal number, so
    the forward value moves by at most ``sqrt(tiny)`` (1e-19 in float32, far
    below any ``eps``). Unconditional because ``requires_grad`` reads False
    inside ``vmap``.
    """
    return x.clamp_min(torch.finfo(x.dtype).tiny).sqrt()


# --------------------------------------------------------------------------- SGD


class InnerSGD(InnerOptimizer):
    """``torch.optim.SGD`` as a pure function: momentum, dampening, Nesterov, L2 weight decay.

    torch starts the momentum buffer at the first gradient (no dampening on
    step 1); here the buffer starts at zero and the first step's gradient
    coefficient is 1 instead of ``1 - dampening``, which is the same number
    without a Python branch on the step count.
    """

    name = "sgd"

    def __init__(self, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        self.momentum = _check_range("momentum", momentum, 0.0, 1.0)
        self.dampening = _check_range("dampening", dampening, 0.0, 1.0)
        self.weight_decay = _check_range("weight_decay", weight_decay, 0.0, float("inf"))
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0 (as torch.optim.SGD)")

    @property
    def hyperparams(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def init(self, params: Params) -> State:
        state: State = {"step": _step_counter(params)}
        if self.momentum != 0.0:
            state["momentum_buffer"] = _zeros_like(params)
        return state

    def step(self, params: Params, grads: Params, state: State, lr: LR) -> tuple[Params, State]:
        _check_grads(params, grads)
        new_params: Params = {}
        new_bufs: Params = {}
        grad_coef = self._grad_coef(state["step"])
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay != 0.0:
                g = g + self.weight_decay * p
            if self.momentum != 0.0:
                buf = self.momentum * state["momentum_buffer"][name] + grad_coef * g
                new_bufs[name] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            new_params[name] = p - _lr_for(lr, name) * g
        new_state: State = {"step": state["step"] + 1}
        if self.momentum != 0.0:
            new_state["momentum_buffer"] = new_bufs
        return new_params, new_state

    def _grad_coef(self, step: Tensor) -> float | Tensor:
        """The gradient's weight in the momentum update: 1 on the first step, ``1 - dampening`` after."""
        if self.dampening == 0.0:
            return 1.0
        return 1.0 - self.dampening * (step > 0).to(step.dtype)


# --------------------------------------------------------------------------- Adam / AdamW


class InnerAdam(InnerOptimizer):
    """``torch.optim.Adam`` (L2 weight decay) or, with ``decoupled=True``, ``torch.optim.AdamW``."""

    def __init__(self, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False):
        if len(tuple(betas)) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        beta1, beta2 = betas
        self.betas = (_check_range("betas[0]", beta1, 0.0, 1.0, hi_open=True),
                      _check_range("betas[1]", beta2, 0.0, 1.0, hi_open=True))
        self.eps = _check_range("eps", eps, 0.0, float("inf"))
        self.weight_decay = _check_range("weight_decay", weight_decay, 0.0, float("inf"))
        self.decoupled = bool(decoupled)
        self.name = "adamw" if self.decoupled else "adam"

    @property
    def hyperparams(self) -> dict[str, Any]:
        return {"betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}

    def init(self, params: Params) -> State:
        return {"step": _step_counter(params), "exp_avg": _zeros_like(params),
                "exp_avg_sq": _zeros_like(params)}

    def step(self, params: Params, grads: Params, state: State, lr: LR) -> tuple[Params, State]:
        _check_grads(params, grads)
        beta1, beta2 = self.betas
        step = state["step"] + 1
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step).sqrt()
        new_params, exp_avgs, exp_avg_sqs = {}, {}, {}
        for name, p in params.items():
            lr_p = _lr_for(lr, name)
            g = grads[name]
            if self.weight_decay != 0.0:
                if self.decoupled:
                    p = p * (1 - lr_p * self.weight_decay)
                else:
                    g = g + self.weight_decay * p
            m = state["exp_avg"][name].lerp(g, 1 - beta1)
            v = state["exp_avg_sq"][name] * beta2 + (1 - beta2) * g * g
            denom = _sqrt(v) / bias_correction2_sqrt + self.eps
            new_params[name] = p - (lr_p / bias_correction1) * m / denom
            exp_avgs[name], exp_avg_sqs[name] = m, v
        return new_params, {"step": step, "exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs}


# --------------------------------------------------------------------------- construction


def _unknown_name_error(kind: str, name: str, known) -> ValueError:
    close = difflib.get_close_matches(str(name), list(known), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")


_ALLOWED = {
    "sgd": ("momentum", "dampening", "nesterov", "weight_decay"),
    "adam": ("betas", "eps", "weight_decay"),
    "adamw": ("betas", "eps", "weight_decay"),
}


def inner_optimizer(name: str, **hyperparams) -> InnerOptimizer:
    """Build a functional optimiser by name (``"sgd"``, ``"adam"``, ``"adamw"``).

    Hyperparameters are torch.optim's names and defaults, except AdamW's
    ``weight_decay``, which defaults to torch's 0.01 as well.
    """
    key = str(name).lower()
    if key not in _ALLOWED:
        raise _unknown_name_error("inner optimizer", name, INNER_OPTIMIZERS)
    for field in hyperparams:
        if field not in _ALLOWED[key]:
            raise _unknown_name_error(f"{key} hyperparameter", field, _ALLOWED[key])
    if key == "sgd":
        return InnerSGD(**hyperparams)
    if key == "adamw":
        hyperparams.setdefault("weight_decay", 0.01)
    return InnerAdam(decoupled=(key == "adamw"), **hyperparams)


_TORCH_NAMES = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw"}
_UNSUPPORTED_FLAGS = ("amsgrad", "maximize")


def inner_optimizer_like(optimizer: torch.optim.Optimizer, group: int = 0) -> InnerOptimizer:
    """The functional twin of a ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` (hyperparameters of one group).

    Lets meta-training drive the same optimiser a user wraps. Flags the
    functional versions do not implement (``amsgrad``, ``maximize``) are refused.
    """
    name = _TORCH_NAMES.get(type(optimizer))
    if name is None:
        raise ValueError(f"no functional twin for {type(optimizer).__name__}; supported: "
                         + ", ".join(cls.__name__ for cls in _TORCH_NAMES))
    settings = optimizer.param_groups[group]
    for flag in _UNSUPPORTED_FLAGS:
        if settings.get(flag):
            raise ValueError(f"{type(optimizer).__name__}({flag}=True) has no functional twin")
    if name == "adam" and settings.get("decoupled_weight_decay"):
        name = "adamw"
    return inner_optimizer(name, **{k: _plain(settings[k]) for k in _ALLOWED[name]})


def _plain(value):
    """Hyperparameters stored as tensors in a torch optimiser, as floats."""
    if isinstance(value, Tensor):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value

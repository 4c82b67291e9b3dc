"""LROptimizerWrapper: lropt inside a user's training loop.

Each ``step(loss=...)``: the gradient norm of every group and the loss go
through :mod:`lropt.features`; the controller turns them into a multiplier per
group; the base optimizer steps with ``lr = base_lr * multiplier``. The wrapper
*is* a ``torch.optim.Optimizer`` whose ``param_groups``, ``state`` and
``defaults`` are the base optimizer's own objects, so GradScaler, LR
schedulers, HF Trainer, Lightning and accelerate accept it.

Base LR: ``group["lr"]`` always holds the *base* LR; the multiplier is applied
only for the duration of the base optimizer's ``step()`` (in place when the LR
is a tensor) and undone right after. So a torch LR scheduler, a warmup, or a
user writing ``group["lr"]`` sets the base LR and lropt multiplies on top,
whether the scheduler is chainable or closed-form. ``get_last_lr()`` returns
the effective LR ``base_lr * multiplier``.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Callable

import torch
from torch import Tensor

from . import features as F
from .controller import LRController
from .controller_file import FEATURE_MIGRATIONS, resolve_controller, with_zero_inputs
from .lr_facade import ControllerScheduler


def _check_positive_lr(group: dict, index: int) -> None:
    lr = group.get("lr")
    if lr is None:
        raise ValueError(f"param_groups[{index}] has no 'lr'")
    value = float(lr) if isinstance(lr, Tensor) else lr
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"param_groups[{index}]['lr'] must be a finite positive number, got {lr!r}")


#: Elements per parameter group read for the gradient-norm and update-size features. Larger
#: groups are read through a fixed strided sample (views, no copy): the features compare these
#: norms with their own history, so a consistent sample serves, and the hot path stays O(1) in
#: model size. Groups up to this size (all meta-training tasks) are read exactly.
SAMPLE_BUDGET = 65_536

#: The shipped controllers were meta-trained with this many validation losses per run. With 5 per run the
#: default's final loss on digits-mlp and attrition-mlp at the usual LR was 13-17% above the best schedule's,
#: against -4% and +4% with 25 (BENCHMARKS.md, "How often to evaluate"), so a run that will see fewer than
#: SPARSE_VAL_EVALS draws a warning.
TRAINED_VAL_EVALS = 25
SPARSE_VAL_EVALS = 10


def _stride(params: list[Tensor]) -> int:
    """1 (read everything) on accelerators, where whole contiguous tensors take the multi-tensor
    fast path and reading them is cheap; else a stride that reads about SAMPLE_BUDGET elements."""
    if not params or params[0].device.type != "cpu":
        return 1
    return _align_stride(params)


def _sampled(tensors: list[Tensor], stride: int) -> list[Tensor]:
    """Every ``stride``-th element of each tensor as a view (whole tensors when ``stride`` is 1
    or a tensor is not contiguous)."""
    if stride == 1:
        return tensors
    return [_every(t, stride) if t.is_contiguous() else t for t in tensors]


def _align_stride(params: list[Tensor]) -> int:
    """The stride of the update sample kept between steps for ``grad_align``: about
    SAMPLE_BUDGET elements on every device, so the kept copy stays small."""
    return max(1, math.ceil(sum(p.numel() for p in params) / SAMPLE_BUDGET)) if params else 1


def _cosine(a: Tensor | None, b: Tensor | None, device) -> Tensor:
    """Cosine between two flat samples (see :func:`_flat_sample`), on ``device``; 0 when they do
    not match or one is zero. Each is normalised first, so it is exact when |a| and |b| differ by
    orders of magnitude."""
    if a is None or b is None or a.shape != b.shape or a.numel() == 0:
        return torch.zeros((), device=device)
    a, b = a.float(), b.float().to(a.device)
    cos = torch.dot(a / a.norm().clamp(min=1e-30), b / b.norm().clamp(min=1e-30))
    return torch.nan_to_num(torch.clamp(cos, -1.0, 1.0)).to(device)


def _every(t: Tensor, stride: int) -> Tensor:
    """Every ``stride``-th element of ``t`` in logical order (one view when ``t`` is contiguous)."""
    if t.is_contiguous():
        return t.as_strided((-(-t.numel() // stride),), (stride,))
    return t.reshape(-1)[::stride]


def _flat(parts: list[Tensor], device) -> Tensor:
    """``parts`` concatenated into one float32 buffer (on ``device`` if they are on several)."""
    try:
        flat = torch.cat(parts)
    except RuntimeError:  # a group spread over several devices
        flat = torch.cat([x.to(device) for x in parts])
    return flat.float()


def _flat_sample(tensors: list[Tensor], stride: int, device) -> Tensor:
    """Every ``stride``-th element of each tensor in logical order, whatever its memory layout (so
    a parameter's update and its gradient are sampled alike), in one float32 buffer: one copy
    kernel, and the cosine is then a single dot, instead of a few kernels per parameter."""
    return _flat([_every(t, stride) for t in tensors], device)


def _upgrade_weights(weights: dict) -> dict:
    """Controller weights from a state dict saved by an older lropt (an older feature spec: as many inputs
    fewer as migrations lie between) upgraded as controller files are; other weights unchanged."""
    w = weights.get("cell.weight_ih")
    missing = 0 if w is None else F.num_features() - w.shape[1]
    return with_zero_inputs(weights, missing) if 0 < missing <= len(FEATURE_MIGRATIONS) else weights


def _kept_sample(kept, device) -> Tensor | None:
    """A saved update sample on ``device``: a flat tensor, or (state dicts of lropt before
    :func:`_flat_sample`) a list of per-parameter samples, which concatenate to the same thing."""
    if isinstance(kept, (list, tuple)):
        kept = torch.cat([t.reshape(-1).float().to(device) for t in kept]) if kept else None
    return None if kept is None else kept.to(device)


def _check_capturable(optimizer, *, every: int, skip_nonfinite: bool) -> None:
    """Refuse settings a replayed CUDA graph cannot honour, naming the one to change."""
    if every != 1:
        raise ValueError(f"capturable=True needs every=1 (a graph replays the same step each time), got every={every}")
    if skip_nonfinite:
        raise ValueError("capturable=True cannot be used with skip_nonfinite=True (the check needs a host sync)")
    for i, g in enumerate(optimizer.param_groups):
        _check_capturable_lr(g["lr"], g["params"], f"group {i}")


def _check_capturable_lr(lr, params, who: str) -> None:
    """A captured step multiplies the LR in place on the device: it must be a tensor, on the parameters'
    device (``params``: a tensor or a list of them; the device is not checked for other iterables)."""
    if not isinstance(lr, Tensor):
        raise ValueError(f"capturable=True needs a tensor LR in every group (lr=torch.tensor(...)); "
                         f"{who} has lr={lr!r}")
    first = params if isinstance(params, Tensor) else None
    if isinstance(params, (list, tuple)) and params:
        first = params[0]
    if first is not None and lr.device != first.device:
        raise ValueError(f"capturable=True needs each LR tensor on its parameters' device; {who}'s lr is "
                         f"on {lr.device}, its parameters on {first.device}")


def _copy_into(old, new):
    """``new``'s values in ``old``'s tensors (a dict of tensors or one tensor), so a captured graph that
    reads ``old`` sees them; ``new`` itself where there is nothing to copy into or the shapes differ."""
    if old is None or new is None:
        return new
    if isinstance(old, dict):
        if old.keys() != new.keys() or any(old[k].shape != new[k].shape for k in old):
            return new
        for k in old:
            old[k].copy_(new[k])
        return old
    if old.shape != new.shape:
        return new
    return old.copy_(new)


def _device_count(n: int, device) -> Tensor:
    """A step count on ``device`` (int64: a float32 count stops at 2**24)."""
    return torch.tensor(n, dtype=torch.int64, device=device)


def _capturing() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def _stepped_indices(group) -> tuple:
    """Indices in ``group["params"]`` of the parameters that have a gradient."""
    return tuple(j for j, p in enumerate(group["params"]) if p.grad is not None)


def _features_and_control(feat: dict, ctrl_state: dict, controller: LRController, *, loss, grad_norm, update_ratio,
                          grad_align, progress, steps_per_call: int = 1) -> tuple[Tensor, dict, dict]:
    """One controller call on the device: fold the step into the feature statistics, run the controller.
    Pure, so ``compile=True`` can hand it to ``torch.compile`` as one graph."""
    feats, feat, ok = F.update(feat, loss=loss, grad_norm=grad_norm, update_ratio=update_ratio,
                               log_mult=ctrl_state["log_mult"], grad_align=grad_align, progress=progress,
                               steps=steps_per_call)
    return feats, feat, controller(feats, ctrl_state, ok, steps_per_call=steps_per_call)


def _group_norm(tensors: list[Tensor], device) -> Tensor:
    """L2 norm of a list of tensors (foreach; a 0-d float32 tensor on ``device``)."""
    if not tensors:
        return torch.zeros((), device=device)
    norms = torch._foreach_norm(tensors)
    try:
        stacked = torch.stack(norms)
    except RuntimeError:  # mixed devices or dtypes
        stacked = torch.stack([n.to(device, torch.float32) for n in norms])
    return torch.linalg.vector_norm(stacked.to(device, torch.float32))


class LROptimizerWrapper(torch.optim.Optimizer):
    """Wrap any ``torch.optim.Optimizer`` so that a learned controller sets its LR.

    Args:
        optimizer: the base optimizer (its LRs are the base LRs).
        controller: ``"default"`` (shipped), another shipped name, a path to a
            controller file, an :class:`LRController`, or ``None`` (identity:
            the wrapper only observes and logs).
        total_steps: planned number of steps; enables the progress feature.
        every: call the controller every ``every`` steps (the multiplier is
            held in between). Each call stands for ``every`` steps: the multiplier moves as far as
            that many per-step calls could, the feature averages decay as over that many steps,
            and the loss they read is the mean training loss of those steps. The gradient
            features are read on controller steps only.
        log_dir: write TensorBoard scalars there (see :mod:`lropt.logging`).
        log_every: log every this many steps (each log reads the device once; with ``capturable``,
            each eager step also reads the step count, which graph replays advance on the device).
        skip_nonfinite: skip the base step (and count it) when the loss or a
            gradient is NaN/inf. This costs one host sync per step, so it is
            off by default; either way the LR stays finite and the controller
            state is not touched by a non-finite step.
        compile: run the features and the controller through ``torch.compile``
            (one graph instead of about 130 small ops per controller call; the
            first calls compile, which takes seconds). Same results as eager
            to float rounding. Falls back to eager with a warning when
            compiling fails (no C++ compiler, an unsupported platform).
        capturable: keep every piece of lropt state in the same tensors across
            steps (updated in place, the step counter on the device), so that a
            CUDA graph can capture ``step(loss=static_loss)`` and replay it. Needs
            a tensor LR on its parameters' device in every group, ``every=1`` and
            ``skip_nonfinite=False`` (else ``ValueError``). Take a few eager steps
            first, and capture after loading a state dict or adding a group (those
            replace the state tensors); replays do not log to TensorBoard or warn, and an
            eager step logged after them reads its step number from the device counter.
    """

    _step_supports_amp_scaling = False  # GradScaler must unscale and check for infs before our step

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        controller: str | LRController | None = "default",
        *,
        total_steps: int | None = None,
        every: int = 1,
        log_dir=None,
        log_every: int = 50,
        skip_nonfinite: bool = False,
        compile: bool = False,
        capturable: bool = False,
    ):
        if isinstance(optimizer, LROptimizerWrapper):
            raise TypeError("optimizer is already an LROptimizerWrapper")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        for name, value in (("every", every), ("log_every", log_every)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if total_steps is not None and not (isinstance(total_steps, int) and total_steps >= 1):
            raise ValueError(f"total_steps must be None or an int >= 1, got {total_steps!r}")
        if not optimizer.param_groups:
            raise ValueError("optimizer has no parameter groups")
        for i, g in enumerate(optimizer.param_groups):
            _check_positive_lr(g, i)
        if capturable:
            _check_capturable(optimizer, every=every, skip_nonfinite=skip_nonfinite)

        self.optimizer = optimizer
        self.controller = resolve_controller(controller)
        self.total_steps = total_steps
        self.every = every
        self.log_every = log_every
        self.skip_nonfinite = skip_nonfinite
        self.compile = bool(compile)
        self.capturable = bool(capturable)
        self._control_fn: Callable | None = None   # built on first use (a compiled function does not pickle)
        self._device = self._find_device()
        if self.controller is not None:
            self.controller.to(self._device)  # runs under no_grad; its requires_grad flags are left alone
        self._logger = None
        if log_dir is not None:
            from .logging import TBLogger

            self._logger = TBLogger(log_dir)
        self._ticks = 0          # base steps taken through the wrapper (host count; see steps_taken)
        self._tick_t = _device_count(0, self._device)  # the same on the device (capturable)
        self._skipped = 0        # base steps skipped on non-finite values
        self._pending_loss: Tensor | None = None
        self._loss_sum: Tensor | None = None  # with every > 1: finite losses since the last controller call
        self._loss_n: Tensor | None = None    # ... and how many (device tensors: no sync); see _init_group_state
        self._warned_total = False
        self._warned_capture = False
        self._warned_val = False
        self._val_at: int | None = None   # the step of the last validation loss (host; for the interval hint)
        self._last_features: Tensor | None = None
        self._init_group_state(len(optimizer.param_groups))

    # ----------------------------------------------------------------- passthrough
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, value):
        self.optimizer.param_groups = value

    @property
    def state(self):
        return self.optimizer.state

    @state.setter
    def state(self, value):
        self.optimizer.state = value

    @property
    def defaults(self):
        return self.optimizer.defaults

    @defaults.setter
    def defaults(self, value):
        self.optimizer.defaults = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def register_step_pre_hook(self, hook):
        return self.optimizer.register_step_pre_hook(hook)

    def register_step_post_hook(self, hook):
        return self.optimizer.register_step_post_hook(hook)

    def register_state_dict_pre_hook(self, hook, prepend: bool = False):
        return self.optimizer.register_state_dict_pre_hook(hook, prepend=prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False):
        return self.optimizer.register_state_dict_post_hook(hook, prepend=prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False):
        return self.optimizer.register_load_state_dict_pre_hook(hook, prepend=prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False):
        return self.optimizer.register_load_state_dict_post_hook(hook, prepend=prepend)

    def __getstate__(self):
        return {**self.__dict__, "_control_fn": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("compile", False)
        self.__dict__.setdefault("_control_fn", None)
        self.__dict__.setdefault("capturable", False)
        self.__dict__.setdefault("_warned_capture", False)
        self.__dict__.setdefault("_warned_val", False)
        self.__dict__.setdefault("_val_at", None)
        self.__dict__.setdefault("_tick_t", _device_count(self._ticks, self._device))
        self.__dict__.setdefault("_loss_sum", None)
        self.__dict__.setdefault("_loss_n", None)

    def __repr__(self) -> str:
        ctrl = "None" if self.controller is None else f"LRController({self.controller.config})"
        extra = (", compile=True" if self.compile else "") + (", capturable=True" if self.capturable else "")
        return f"LROptimizerWrapper(controller={ctrl}, every={self.every}{extra},\n  {self.optimizer!r})"

    # ----------------------------------------------------------------- group state
    def _find_device(self) -> torch.device:
        for g in self.optimizer.param_groups:
            for p in g["params"]:
                return p.device
        return torch.device("cpu")

    def _init_group_state(self, n: int) -> None:
        self._host_mults = [self._start_mult()] * n
        self._feat = F.init(n, device=self._device)
        self._update_ratio = torch.zeros(n, device=self._device)
        # per group: (indices in group["params"] of the stepped parameters, their update samples)
        self._prev_update: list[tuple[tuple, Tensor | None]] = [((), None) for _ in range(n)]
        self._ctrl_state = self.controller.init_state(n, device=self._device) if self.controller else None
        self._loss_sum = self._loss_n = None

    def _start_mult(self) -> float:
        """The multiplier before the first controller call (below 1 for a warm-up start)."""
        return self.controller.start_multiplier() if self.controller else 1.0

    def add_param_group(self, param_group: dict) -> None:
        if self.capturable:   # checked first: a refused group is not added
            _check_capturable_lr(param_group.get("lr", self.defaults.get("lr")), param_group["params"], "the new group")
        self.optimizer.add_param_group(param_group)
        i = len(self.optimizer.param_groups) - 1
        _check_positive_lr(self.optimizer.param_groups[i], i)
        self._host_mults.append(self._start_mult())
        self._feat = F.extend(self._feat, 1)
        self._update_ratio = torch.cat([self._update_ratio, torch.zeros(1, device=self._device)])
        self._prev_update.append(((), None))
        if self.controller is not None:
            self._ctrl_state = self.controller.extend_state(self._ctrl_state, 1)

    @property
    def device(self) -> torch.device:
        """Where the features and the controller live (the first parameter's device)."""
        return self._device

    @property
    def steps_taken(self) -> int:
        """Base-optimizer steps taken through the wrapper (a GradScaler-skipped step never counts;
        with ``capturable``, graph replays count: read from the device)."""
        return int(self._tick_t.item()) if self.capturable else self._ticks

    @property
    def skipped_steps(self) -> int:
        """Base steps skipped on non-finite values (``skip_nonfinite=True``)."""
        return self._skipped

    @property
    def last_features(self) -> Tensor | None:
        """The features ``[groups, F]`` of the last controller call (None before the first)."""
        return self._last_features

    @property
    def base_lrs(self) -> list[float]:
        """The base LR of each group (``group["lr"]``: what schedulers and users set)."""
        return [float(g["lr"]) for g in self.param_groups]

    def multipliers(self) -> Tensor:
        """Current multiplier per group (a device tensor; ones without a controller)."""
        if self._ctrl_state is None:
            return torch.ones(len(self.param_groups), device=self._device)
        return torch.exp(self._ctrl_state["log_mult"])

    def get_last_lr(self) -> list[float]:
        """The effective LR of each group: base LR times the current multiplier."""
        return self._effective_lrs(self.multipliers().tolist())

    def _effective_lrs(self, mults: list[float]) -> list[float]:
        return [float(g["lr"]) * m for g, m in zip(self.param_groups, mults)]

    def as_scheduler(self) -> ControllerScheduler:
        """An ``LRScheduler`` facade for frameworks that want one; its ``step()`` changes nothing."""
        return ControllerScheduler(self)

    # ----------------------------------------------------------------- observing
    @staticmethod
    def _as_scalar(value, name: str) -> Tensor | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (Tensor, int, float)):
            raise TypeError(f"{name} must be a scalar tensor or a number, got {type(value).__name__}")
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise TypeError(f"{name} must be a scalar (one element), got a tensor of shape {tuple(value.shape)}")
            return value.detach().reshape(())
        return torch.tensor(float(value))

    def observe(self, *, val_loss=None, loss=None) -> None:
        """Feed signals outside ``step``: a validation loss, or the training loss
        for frameworks that call ``step()`` without one (used at the next step).

        The shipped controllers were meta-trained with about 25 validation losses per run;
        validation losses so far apart that a run sees fewer than 10 draw one warning."""
        val = self._as_scalar(val_loss, "val_loss")
        if val is not None:
            self._set("_feat", F.observe_val(self._feat, val.to(self._device)))
            if self.controller is not None and not self._warned_val:
                self._check_val_interval()
        tr = self._as_scalar(loss, "loss")
        if tr is not None:
            self._pending_loss = tr

    def _check_val_interval(self) -> None:
        """Warn once when validation losses come so far apart that a run of ``total_steps`` (at least 100)
        sees fewer than SPARSE_VAL_EVALS of them (known from the second one on)."""
        now = self.steps_taken
        prev, self._val_at = self._val_at, now
        # runs under 4 x TRAINED_VAL_EVALS steps (tests, smoke runs) are too short for the advice to matter
        if prev is None or self.total_steps is None or self.total_steps < 4 * TRAINED_VAL_EVALS or now <= prev:
            return
        per_run = self.total_steps / (now - prev)
        if per_run < SPARSE_VAL_EVALS:
            self._warned_val = True
            warnings.warn(
                f"lropt: validation losses {now - prev} steps apart give about {per_run:.0f} per run "
                f"(total_steps={self.total_steps}); the shipped controllers were meta-trained with "
                f"{TRAINED_VAL_EVALS} per run and ended worse with 5 in lropt's measurements. "
                f"Evaluate about every {max(1, self.total_steps // TRAINED_VAL_EVALS)} steps.",
                stacklevel=3,
            )

    # ----------------------------------------------------------------- stepping
    def step(self, closure: Callable[[], Tensor] | None = None, *, loss=None):
        """Observe, set each group's LR, step the base optimizer.

        ``loss`` (keyword-only) is this step's training loss. Without it, a
        loss fed through ``observe(loss=...)`` since the last step is used, and
        then the closure's return value (frameworks that average the loss over
        ranks or micro-batches feed it through ``observe``).
        """
        result = None
        if closure is not None:
            with torch.enable_grad():
                result = closure()
            if loss is None and self._pending_loss is None:  # a loss fed through observe() wins
                loss = result
        loss_t = self._as_scalar(loss, "loss")
        if loss_t is None:
            loss_t, self._pending_loss = self._pending_loss, None
        else:
            self._pending_loss = None

        if self.capturable and self.controller is not None and not self._warned_capture and _capturing():
            self._warn_if_unready()
        with torch.no_grad():
            if self.controller is not None and self.every > 1 and loss_t is not None:
                self._accumulate_loss(loss_t)
            if self.controller is not None and self._ticks % self.every == 0:
                self._control(self._window_loss() if self._loss_sum is not None else loss_t)  # every > 1 only
            if self.skip_nonfinite and not self._all_finite(loss_t):   # never with capturable
                self._skipped += 1
                self._ticks += 1
                self._maybe_log()
                return result
            track_update = self.controller is not None and (self._ticks + 1) % self.every == 0
            snapshot = self._snapshot() if track_update else None
            with self._multiplied_lrs():
                base_result = self._base_step(closure)
            if snapshot is not None:
                self._measure_update(snapshot)
            if self.capturable:
                self._tick_t.add_(1)
        self._ticks += 1
        self._maybe_log()
        return result if closure is not None else base_result

    def _warn_if_unready(self) -> None:
        """A graph captured before the first eager step would replay the first step's view of the state
        (no update sample yet: ``grad_align`` would read 0 in every replay)."""
        self._warned_capture = True
        if self._last_features is None or all(kept is None for _, kept in self._prev_update):
            warnings.warn("lropt: a CUDA graph is capturing the wrapper's first step; take a few eager steps "
                          "before capturing (as torch's CUDA-graph docs say), or grad_align reads 0 in every replay",
                          stacklevel=3)

    def _base_step(self, closure):
        if isinstance(self.optimizer, torch.optim.LBFGS):
            with torch.enable_grad():
                return self.optimizer.step(closure)
        return self.optimizer.step()

    @staticmethod
    def _stepped(group) -> list[Tensor]:
        """The parameters this step updates (those with a gradient)."""
        return [p for p in group["params"] if p.grad is not None]

    def _grads(self, group) -> list[Tensor]:
        """Each stepped parameter's gradient, sampled (see :data:`SAMPLE_BUDGET`)."""
        params = self._stepped(group)
        return _sampled([p.grad for p in params], _stride(params))

    def _tracked(self, group) -> list[Tensor]:
        """Views of the stepped parameters, sampled like the gradients."""
        params = self._stepped(group)
        return _sampled(params, _stride(params))   # read under no_grad: no detach needed

    def _all_finite(self, loss_t: Tensor | None) -> bool:
        """Whether the loss and every gradient element are finite (full read, one host sync)."""
        vals = [torch.isfinite(loss_t).all()] if loss_t is not None else []
        for g in self.param_groups:
            grads = [p.grad for p in self._stepped(g)]
            if grads:
                vals.append(torch.isfinite(_group_norm(grads, self._device)))
        return bool(torch.stack(vals).all()) if vals else True

    def _progress(self) -> Tensor | None:
        if self.total_steps is None:
            return None
        if self._ticks >= self.total_steps and not self._warned_total:   # host count: replays do not warn
            warnings.warn(
                f"lropt: step {self._ticks} reached total_steps={self.total_steps}; "
                "the progress feature stays at 1.0 (pass a larger total_steps)",
                stacklevel=4,
            )
            self._warned_total = True
        if self.capturable:  # from the device counter, so a replay sees its own step (float64, as on the host)
            return torch.clamp(self._tick_t.double() / self.total_steps, max=1.0).float()
        return torch.full((), min(self._ticks / self.total_steps, 1.0), device=self._device)

    def _align_grads(self, group, prev: tuple[tuple, Tensor | None]) -> Tensor | None:
        """This step's gradient sample to compare with ``prev``; None (the feature reads 0) when a
        different set of parameters was stepped, so no gradient is compared with another's update."""
        indices, kept = prev
        if kept is None or indices != _stepped_indices(group):
            return None
        params = [group["params"][j] for j in indices]
        return _flat_sample([p.grad for p in params], _align_stride(params), self._device)

    def _accumulate_loss(self, loss_t: Tensor) -> None:
        """Add this step's loss to the window the next controller call reads (finite losses only).

        The window lives on the loss's device, so a Python-number or CPU loss is summed on the host and
        a CUDA loss on the GPU: neither is copied between them on the steps between calls."""
        loss = loss_t.float()
        if self._loss_sum is None:
            self._loss_sum, self._loss_n = torch.zeros_like(loss), torch.zeros_like(loss)
        elif self._loss_sum.device != loss.device:   # once, e.g. after loading a state dict elsewhere
            self._loss_sum, self._loss_n = self._loss_sum.to(loss.device), self._loss_n.to(loss.device)
        finite = torch.isfinite(loss)
        self._loss_sum = self._loss_sum + torch.where(finite, loss, torch.zeros_like(loss))
        self._loss_n = self._loss_n + finite.float()

    def _window_loss(self) -> Tensor:
        """The mean training loss of the steps since the last call, and a fresh window. NaN when none was
        finite: then the call is skipped, as a non-finite loss is at every=1."""
        mean = torch.where(self._loss_n > 0, self._loss_sum / self._loss_n.clamp(min=1.0),
                           torch.full_like(self._loss_sum, math.nan))
        self._loss_sum = self._loss_n = None
        return mean

    def _control(self, loss_t: Tensor | None) -> None:
        grad_norm = torch.stack([_group_norm(self._grads(g), self._device) for g in self.param_groups])
        align = torch.stack([_cosine(self._align_grads(g, prev), prev[1], self._device)
                             for g, prev in zip(self.param_groups, self._prev_update)])
        inputs = dict(loss=None if loss_t is None else loss_t.to(self._device), grad_norm=grad_norm,
                      update_ratio=self._update_ratio, grad_align=align, progress=self._progress(),
                      steps_per_call=self.every)
        feats, feat, ctrl_state = self._run_control(inputs)
        self._set("_feat", feat)
        self._set("_ctrl_state", ctrl_state)
        self._set("_last_features", feats)
        if any(not isinstance(g["lr"], Tensor) for g in self.param_groups):
            self._host_mults = self.multipliers().tolist()  # one transfer per controller call

    def _run_control(self, inputs: dict):
        """:func:`_features_and_control` on this wrapper's state, compiled when ``compile`` is set.

        When the compiled call fails and the eager one does not, the failure was the compiler's (no C++
        compiler, an unsupported Python, torch's recompile limit): warn once and stay eager. When the
        eager call fails too, its error is the real one and is raised as it is."""
        args = (self._feat, self._ctrl_state, self.controller)
        if not self.compile or self._control_fn is _features_and_control:
            return _features_and_control(*args, **inputs)
        try:
            if self._control_fn is None:
                # dynamic=None: a new group count is traced once more with symbolic sizes, not per count
                self._control_fn = torch.compile(_features_and_control, fullgraph=True, dynamic=None)
            return self._control_fn(*args, **inputs)
        except Exception as exc:  # noqa: BLE001 - told apart from a real error by the eager call below
            self._control_fn = _features_and_control
            out = _features_and_control(*args, **inputs)
            warnings.warn(f"lropt: compile=True failed ({type(exc).__name__}: {exc}); running eager", stacklevel=4)
            return out

    @contextlib.contextmanager
    def _multiplied_lrs(self):
        """Set ``lr = base * multiplier`` in every group for the base step, then restore the base."""
        if self.controller is None:
            yield
            return
        mults, saved = None, []
        for i, g in enumerate(self.param_groups):
            lr = g["lr"]
            saved.append(lr.clone() if isinstance(lr, Tensor) else lr)
            if isinstance(lr, Tensor):
                mults = self.multipliers() if mults is None else mults
                lr.mul_(mults[i].to(lr.device, lr.dtype))
            else:
                g["lr"] = lr * self._host_mults[i]
        try:
            yield
        finally:
            for g, base in zip(self.param_groups, saved):
                if isinstance(base, Tensor):
                    g["lr"].copy_(base)
                else:
                    g["lr"] = base

    def _snapshot(self) -> list[tuple[list[Tensor], list[Tensor]]]:
        """(live views, copies) of the tracked parameter samples, before the base step."""
        out = []
        for g in self.param_groups:
            views = self._tracked(g)
            out.append((views, torch._foreach_mul(views, 1.0) if views else []))
        return out

    def _measure_update(self, snapshot) -> None:
        """|update| / |weights| per group, from the samples taken before the step; keep a
        sample of the update for the next call's ``grad_align``."""
        ratios = []
        for i, (views, before) in enumerate(snapshot):
            if not views:
                ratios.append(torch.zeros((), device=self._device))
                self._prev_update[i] = ((), None)
                continue
            diffs = torch._foreach_sub(views, before)
            ratios.append(_group_norm(diffs, self._device) / (_group_norm(views, self._device) + 1e-12))
            group = self.param_groups[i]
            indices, sample = _stepped_indices(group), self._keep_update_sample(group, diffs)
            old_indices, old_sample = self._prev_update[i]
            if self.capturable and indices == old_indices:
                sample = _copy_into(old_sample, sample)
            self._prev_update[i] = (indices, sample)
        self._set("_update_ratio", torch.nan_to_num(torch.stack(ratios), nan=0.0, posinf=1e6))

    def _set(self, name: str, value) -> None:
        """Replace a piece of lropt state; with ``capturable``, write into the tensors it already has."""
        setattr(self, name, _copy_into(getattr(self, name), value) if self.capturable else value)

    def _keep_update_sample(self, group, diffs: list[Tensor]) -> Tensor:
        """``diffs`` (read at the snapshot stride) sampled as :func:`_flat_sample` samples the gradients."""
        params = self._stepped(group)
        keep = _align_stride(params)
        # A diff read whole (stride 1, or a non-contiguous parameter; it has the parameter's shape) is
        # thinned here; any other is already _every(parameter, keep), as _sampled read it.
        return _flat([_every(d, keep) if d.numel() == p.numel() else d for d, p in zip(diffs, params)],
                     self._device)

    # ----------------------------------------------------------------- logging
    def scalars(self, *, features: bool = True) -> dict[str, float]:
        """The lropt TensorBoard scalars now, by tag (see :mod:`lropt.logging`): effective LR and
        multiplier per group, group 0's features, skipped steps. Reads the device once."""
        from .logging import FEATURE_TAG, LR_TAG, MULT_TAG, SKIPPED_TAG

        mults = self.multipliers().tolist()
        out = {LR_TAG.format(i): lr for i, lr in enumerate(self._effective_lrs(mults))}
        if self.controller is not None:
            out.update({MULT_TAG.format(i): m for i, m in enumerate(mults)})
            if features and self._last_features is not None:
                out.update({FEATURE_TAG.format(n): v for n, v in zip(F.FEATURE_NAMES, self._last_features[0].tolist())})
        out[SKIPPED_TAG] = float(self._skipped)
        return out

    def _maybe_log(self) -> None:
        if self._logger is None or _capturing():
            return
        if self.capturable:   # graph replays advance only the device count; logging reads the device anyway
            self._ticks = int(self._tick_t.item())
        if self._ticks % self.log_every == 0:
            self._logger.write(self._ticks, self.scalars())

    def close(self) -> None:
        """Flush and close the TensorBoard writer, if any."""
        if self._logger is not None:
            self._logger.close()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """The base optimizer's state dict plus an ``"lropt"`` entry with everything
        needed to continue the same LR trajectory."""
        sd = self.optimizer.state_dict()
        sd["lropt"] = {
            "version": 1,
            "ticks": self.steps_taken,
            "skipped": self._skipped,
            "num_groups": len(self.param_groups),
            "features": {k: v.clone() for k, v in self._feat.items()},
            "update_ratio": self._update_ratio.clone(),
            "prev_update": [(list(idx), None if t is None else t.clone()) for idx, t in self._prev_update],
            "pending_loss": self._pending_loss,
            "loss_window": None if self._loss_sum is None else (self._loss_sum.clone(), self._loss_n.clone()),
            "controller_state": None if self._ctrl_state is None else {k: v.clone() for k, v in self._ctrl_state.items()},
            "controller": None if self.controller is None else {
                "config": dict(self.controller.config),
                "weights": {k: v.clone() for k, v in self.controller.state_dict().items()},
            },
        }
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        """Continue a saved run. The controller takes the saved weights and behaviour settings (step and
        multiplier bounds, guard, start), in place, as the base optimizer takes its saved
        hyperparameters; its cell type and sizes must match the saved ones (else ``ValueError``).
        A plain optimizer state dict keeps fresh lropt state."""
        state_dict = dict(state_dict)
        ours = state_dict.pop("lropt", None)
        if ours is None:  # a plain optimizer state dict: keep fresh lropt state
            self.optimizer.load_state_dict(state_dict)
            self._init_group_state(len(self.param_groups))
            return
        # Check everything before changing anything, so a refused state dict leaves the wrapper as it was.
        if ours["num_groups"] != len(self.param_groups):
            raise ValueError(
                f"state dict has {ours['num_groups']} parameter groups, optimizer has {len(self.param_groups)}"
            )
        if (ours["controller"] is None) != (self.controller is None):
            raise ValueError("state dict and wrapper disagree on whether a controller is used")
        weights = None if ours["controller"] is None else _upgrade_weights(ours["controller"]["weights"])
        if weights is not None:
            mine = self.controller.state_dict()
            bad = sorted(k for k in mine if k not in weights or weights[k].shape != mine[k].shape)
            if bad:
                raise ValueError(f"state dict's controller weights do not fit this wrapper's controller: {bad}")
        self.optimizer.load_state_dict(state_dict)
        dev = self._device
        self._ticks = ours["ticks"]
        self._tick_t = _device_count(self._ticks, dev)
        self._skipped = ours.get("skipped", 0)
        self._feat = F.restore(ours["features"], len(self.param_groups), device=dev)
        self._update_ratio = ours["update_ratio"].to(dev)
        saved = ours.get("prev_update") or [((), None)] * len(self.param_groups)
        self._prev_update = [(tuple(idx), _kept_sample(kept, dev)) for idx, kept in saved]
        pending = ours.get("pending_loss")
        self._pending_loss = None if pending is None else pending.to(dev)
        window = ours.get("loss_window") if self.every > 1 else None   # every=1 reads each step's own loss
        self._loss_sum, self._loss_n = (None, None) if window is None else (window[0].clone(), window[1].clone())
        if self.controller is not None:
            self.controller.load_state_dict(weights)
            self.controller.take_settings(ours["controller"].get("config"))
            self._ctrl_state = {k: v.to(dev) for k, v in ours["controller_state"].items()}
            self._host_mults = self.multipliers().tolist()

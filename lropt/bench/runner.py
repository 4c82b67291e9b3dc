"""One training run of one method on one task, recorded for comparison.

Every method sees the same thing: the model from ``task.init_model(seed)``,
the batches ``task.train_batch(step)`` in the same order, the same number of
steps and the same evaluation points. Only the way the learning rate is set
differs:

- a name of :data:`lropt.schedules.METHODS` builds the optimizer and schedule
  with :func:`lropt.schedules.make_method`;
- ``"lropt"`` builds the plain base optimizer at ``base_lr`` and wraps it in
  :class:`lropt.LROptimizerWrapper` (``total_steps=steps``), feeding it each
  validation loss through ``observe(val_loss=...)``.

Evaluation happens before the first step (step 0) and after every
``eval_every`` steps and the last one; step ``s`` means "after ``s`` updates".
The LR recorded at step ``s`` is the one the ``s``-th update used.

Randomness inside training (dropout masks) comes from the global torch RNG,
seeded from ``seed`` for the run and restored afterwards: a run is
reproducible, and every method of a seed sees the same masks (a paired
comparison).

Divergence (MEASURING.md): a non-finite training or validation loss, or a
training loss above ``divergence_factor`` (2) times the first step's loss. It
stops the run; the final validation loss of a diverged run is ``inf`` and its
best is the best seen before it diverged. ``max_loss_ratio`` records the
highest training loss relative to the first. Note that the 2x rule also stops
methods whose loss overshoots early and then recovers (Prodigy's step-size
estimate does this on ill-conditioned problems: 15-30x the first loss in the
first tens of steps); ``divergence_factor=math.inf`` stops only on NaN/inf.
"""
from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import asdict, dataclass, field

import torch

from ..schedules import METHODS, make_method, make_optimizer, unknown_name_error
from ..tasks.base import Task, forward
from ..tasks.seeding import SALT_RUN, mix_seed, seeded_global_rng
from ..wrapper import LROptimizerWrapper

LROPT = "lropt"
ALL_METHODS: tuple[str, ...] = (LROPT, *METHODS)


@dataclass
class RunResult:
    """Everything one run produced: curves, summaries, divergence and timing."""

    task: str
    method: str
    base_lr: float
    seed: int
    steps: int
    optimizer: str
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] | None = None
    lr_steps: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    multiplier: list[float] | None = None
    first_train_loss: float = math.nan
    max_loss_ratio: float = math.nan
    steps_done: int = 0
    diverged: bool = False
    diverged_at: int | None = None
    wall_s: float = 0.0
    train_s: float = 0.0

    @property
    def best_val_loss(self) -> float:
        finite = [v for v in self.val_loss if math.isfinite(v)]
        return min(finite) if finite else math.inf

    @property
    def final_val_loss(self) -> float:
        if self.diverged or not self.val_loss or not math.isfinite(self.val_loss[-1]):
            return math.inf
        return self.val_loss[-1]

    @property
    def best_metric(self) -> float | None:
        finite = [v for v in self.val_metric or () if math.isfinite(v)]
        return max(finite) if finite else None

    @property
    def final_metric(self) -> float | None:
        if self.diverged or not self.val_metric:
            return None
        return self.val_metric[-1]

    def summary(self) -> dict:
        """The scalars of this run (no curves)."""
        return {
            "task": self.task, "method": self.method, "base_lr": self.base_lr, "seed": self.seed,
            "steps": self.steps, "steps_done": self.steps_done, "optimizer": self.optimizer,
            "best_val_loss": self.best_val_loss, "final_val_loss": self.final_val_loss,
            "best_metric": self.best_metric, "final_metric": self.final_metric,
            "diverged": self.diverged, "diverged_at": self.diverged_at,
            "wall_s": self.wall_s, "train_s": self.train_s,
        }

    def to_dict(self) -> dict:
        """Summary plus every curve."""
        return {**asdict(self), **self.summary()}


def check_method(method: str) -> str:
    """``method`` if it is known, else a ValueError with close matches."""
    if method not in ALL_METHODS:
        raise unknown_name_error("method", method, ALL_METHODS)
    return method


class _Stepper:
    """The per-method part of a run: build, step, read the LR, switch train/eval."""

    def __init__(self, method: str, params, *, base_lr: float, steps: int, optimizer: str, controller,
                 observe_val: bool = True, tell_total_steps: bool = True, every: int = 1):
        self.is_lropt = method == LROPT
        self.observe_val = observe_val
        self.schedule = self.hooks = None
        if self.is_lropt:
            base = make_optimizer(optimizer, params, base_lr)
            self.opt = LROptimizerWrapper(base, controller=controller, total_steps=steps if tell_total_steps else None,
                                          every=every)
        else:
            with contextlib.redirect_stdout(io.StringIO()):  # Prodigy prints its settings on construction
                self.opt, self.schedule, self.hooks = make_method(method, params, base_lr, steps, optimizer)
        self.last_val: float | None = None

    def step(self, loss: torch.Tensor) -> None:
        if self.is_lropt:
            self.opt.step(loss=loss)
        else:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def lr(self) -> float:
        """The LR group 0 used in the step just taken."""
        return float(self.opt.get_last_lr()[0] if self.is_lropt else self.schedule.get_last_lr()[0])

    def multiplier(self) -> float | None:
        return float(self.opt.multipliers()[0]) if self.is_lropt else None

    def advance(self) -> None:
        """Move the schedule to the next step (after the LR of this step was read)."""
        if self.schedule is not None:
            self.schedule.step(val_loss=self.last_val)

    def observe(self, val_loss: float) -> None:
        self.last_val = val_loss
        if self.is_lropt and self.observe_val and math.isfinite(val_loss):
            self.opt.observe(val_loss=val_loss)

    def eval_mode(self, on: bool) -> None:
        if self.hooks is not None:
            self.hooks.eval() if on else self.hooks.train()


def _evaluate(task: Task, model, stepper: _Stepper, result: RunResult, step: int, device) -> bool:
    """Record one evaluation at ``step``; False when the validation loss is not finite."""
    stepper.eval_mode(True)
    res = task.evaluate(model, device=device)
    stepper.eval_mode(False)
    val = float(res["val_loss"])
    result.eval_steps.append(step)
    result.val_loss.append(val if math.isfinite(val) else math.inf)
    if task.metric_name is not None:
        result.val_metric.append(float(res.get(f"val_{task.metric_name}", math.nan)))
    stepper.observe(val)
    return math.isfinite(val)


def _diverges(result: RunResult, step: int, value: float, factor: float) -> bool:
    """Record this step's training loss; True when it is non-finite or above ``factor`` x the first."""
    if step == 0:
        result.first_train_loss = value
    first = result.first_train_loss
    ratio = value / first if first > 0 else math.nan
    result.max_loss_ratio = ratio if step == 0 else max(result.max_loss_ratio, ratio)
    if not math.isfinite(value) or (first > 0 and value > factor * first):
        result.diverged, result.diverged_at = True, step
    return result.diverged


def run_method(task: Task, method: str, *, base_lr: float, steps: int, seed: int, optimizer: str = "adamw",
               controller=None, eval_every: int, device=None, lr_every: int = 1,
               divergence_factor: float = 2.0, observe_val: bool = True, tell_total_steps: bool = True,
               lropt_every: int = 1) -> RunResult:
    """Train ``task`` with ``method`` for ``steps`` steps from ``init_model(seed)``; see the module docstring.

    ``controller`` is the wrapper's ``controller=`` argument (an
    :class:`lropt.LRController`, a shipped name, a path, or ``None`` for the
    identity); it is used only by ``"lropt"``. ``lr_every`` thins the LR record
    for long runs. ``observe_val=False`` keeps the validation losses from the
    controller (an ablation; ``lropt compare`` always feeds them).
    ``tell_total_steps=False`` builds the wrapper without ``total_steps``, as a
    user who does not state the run length would (no progress feature).
    ``lropt_every`` is the wrapper's ``every`` (the controller runs every N steps).
    """
    check_method(method)
    if steps < 1 or eval_every < 1 or lr_every < 1:
        raise ValueError(f"steps, eval_every and lr_every must be >= 1, got {steps}, {eval_every}, {lr_every}")
    with seeded_global_rng(mix_seed(SALT_RUN, seed), device):
        return _run(task, method, base_lr=base_lr, steps=steps, seed=seed, optimizer=optimizer,
                    controller=controller, eval_every=eval_every, device=device, lr_every=lr_every,
                    divergence_factor=divergence_factor, observe_val=observe_val,
                    tell_total_steps=tell_total_steps, lropt_every=lropt_every)


def _run(task, method, *, base_lr, steps, seed, optimizer, controller, eval_every, device, lr_every,
         divergence_factor, observe_val, tell_total_steps, lropt_every) -> RunResult:
    start = time.perf_counter()
    model = task.init_model(seed).to(device)
    model.train()
    stepper = _Stepper(method, model.parameters(), base_lr=base_lr, steps=steps, optimizer=optimizer,
                       controller=controller, observe_val=observe_val, tell_total_steps=tell_total_steps,
                       every=lropt_every)
    result = RunResult(task=task.name, method=method, base_lr=base_lr, seed=seed, steps=steps, optimizer=optimizer,
                       val_metric=[] if task.metric_name is not None else None,
                       multiplier=[] if stepper.is_lropt else None)
    t0 = time.perf_counter()
    _evaluate(task, model, stepper, result, 0, device)
    eval_s = time.perf_counter() - t0
    for step in range(steps):
        inputs, targets = task.train_batch(step, device=device)
        loss = task.loss(forward(model, inputs), targets)
        if _diverges(result, step, float(loss.detach()), divergence_factor):
            break
        loss.backward()
        stepper.step(loss)
        result.steps_done = step + 1
        if step % lr_every == 0 or step == steps - 1:
            result.lr_steps.append(step)
            result.lr.append(stepper.lr())
            if stepper.is_lropt:
                result.multiplier.append(stepper.multiplier())
        stepper.advance()
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            t0 = time.perf_counter()
            finite = _evaluate(task, model, stepper, result, step + 1, device)
            eval_s += time.perf_counter() - t0
            if not finite:
                result.diverged, result.diverged_at = True, step + 1
                break
    result.wall_s = time.perf_counter() - start
    result.train_s = result.wall_s - eval_s
    return result

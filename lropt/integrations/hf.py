"""Hugging Face ``Trainer`` integration.

Usage::

    from lropt import LROptimizerWrapper
    from lropt.integrations.hf import LROptCallback

    opt = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=5e-5),
                             controller="default", total_steps=num_steps)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      optimizers=(opt, opt.as_scheduler()),
                      callbacks=[LROptCallback(log_dir="runs/lropt")])

``optimizers=(opt, opt.as_scheduler())``: the Trainer steps the wrapper (through
accelerate's ``AcceleratedOptimizer``) and logs ``learning_rate`` from
``scheduler.get_last_lr()[0]``, which is the controller's effective LR of group
0. Pass ``(opt, None)`` instead to let the Trainer's own schedule
(``lr_scheduler_type``, warmup) set the *base* LR that the controller multiplies;
the logged ``learning_rate`` is then the base LR (the callback's TensorBoard
scalars still show the effective one).

What :class:`LROptCallback` feeds the controller:

- **Validation loss** (``on_evaluate``): ``metrics["eval_loss"]`` (``eval_loss_key``)
  to ``observe(val_loss=...)``. The Trainer gathers it over all processes.
- **Training loss**: the Trainer hands callbacks no per-step loss (``on_log`` sees
  only an average over ``logging_steps``, after the step). The callback therefore
  registers a forward hook on the model (``on_train_begin``) that records
  ``outputs.loss`` of each training-mode forward (``model.training`` and grad
  enabled, so evaluation and prediction are ignored), and in
  ``on_pre_optimizer_step`` (after the last backward, before
  ``optimizer.step()``) feeds ``observe(loss=...)``: the mean over the step's
  micro-batches, or their sum when the Trainer passed ``num_items_in_batch`` (the
  loss is then already normalised over the accumulated batch): in one process,
  the ``loss`` the Trainer logs for that step. Under multi-process training it is
  averaged over the ranks (one scalar all-reduce per step, no host sync) so every
  rank computes the same LR; it may then differ from the logged loss by a
  constant factor, which the loss features (differences of logs) ignore.
  Blind spot: a loss computed outside the model (``label_smoothing_factor``,
  ``compute_loss_func``, an overridden ``compute_loss`` that calls the model
  without labels) is not seen; feed it yourself with
  ``wrapper.observe(loss=...)`` from ``compute_loss`` (the hook then records
  nothing and leaves your value in place; average it over the ranks with
  :func:`lropt.integrations.ddp.sync_loss` under multi-process training).
  Transformers versions without the ``on_pre_optimizer_step`` event get the loss
  in ``on_step_end`` instead, one step late.
- **Run length**: a wrapper built without ``total_steps`` gets ``state.max_steps`` at
  ``on_train_begin`` (``total_steps=False`` turns this off), so the progress feature works.
- **Skipped steps**: a step that the GradScaler skips (inf/NaN gradients under
  fp16) never reaches the wrapper, so the controller does not tick; the observed
  loss is replaced at the next step.

With ``log_dir``, the callback writes lropt's TensorBoard scalars
(:mod:`lropt.logging` tags: effective LR and multiplier per group, features,
skipped steps) at every Trainer log (``logging_steps``), from the main process.
``log_dir=True`` picks ``<output_dir>/runs/lropt``, next to the Trainer's own
TensorBoard runs.

Multi-process data parallel (``torchrun``/``accelerate launch``, DDP) is supported;
FSDP and DeepSpeed are not (see :mod:`lropt.integrations.ddp`). Tested with
transformers 5.23 and accelerate 1.15.
"""
from __future__ import annotations

import math
import os
import warnings

import torch
from transformers import TrainerCallback

from . import fill_total_steps, find_wrapper, lropt_scalars
from .ddp import _mean_or_none

__all__ = ["LROptCallback"]


def _loss_of(output):
    """``output.loss`` of a model output (ModelOutput, dict); ``None`` when there is none."""
    loss = output.get("loss") if isinstance(output, dict) else getattr(output, "loss", None)
    if not isinstance(loss, torch.Tensor):
        return None
    loss = loss.detach()
    return loss.mean() if loss.numel() > 1 else loss.reshape(())  # DataParallel returns one per device


class LROptCallback(TrainerCallback):
    """Feed the Trainer's training and evaluation losses to an :class:`~lropt.LROptimizerWrapper`.

    Args:
        wrapper: the wrapper; default: found in the Trainer's optimizer at ``on_train_begin``.
        eval_loss_key: the metric fed to ``observe(val_loss=...)``. When it is missing and
            exactly one ``eval*loss`` metric is present (one named eval data set), that one is used.
        train_loss: record the training loss through a forward hook (see the module docs).
        log_dir: write lropt's TensorBoard scalars there at every Trainer log; ``True``:
            ``<output_dir>/runs/lropt``; ``None``: no logging.
        log_features: include the controller's features in the scalars.
        total_steps: give a wrapper built without ``total_steps`` the Trainer's ``max_steps`` at
            ``on_train_begin`` (the progress feature needs the run length).
    """

    def __init__(self, wrapper=None, *, eval_loss_key: str = "eval_loss", train_loss: bool = True,
                 log_dir=None, log_features: bool = True, total_steps: bool = True):
        self.wrapper = None if wrapper is None else find_wrapper(wrapper)
        self.total_steps = total_steps
        self.eval_loss_key = eval_loss_key
        self.train_loss = train_loss
        self.log_dir = log_dir
        self.log_features = log_features
        self._logger = None
        self._hook = None
        self._loss_sum = None
        self._loss_count = 0
        self._loss_summed = False
        self._warned_eval = False

    # ---------------------------------------------------------------- training loss
    def _record(self, module, args, kwargs, output) -> None:
        if not (module.training and torch.is_grad_enabled()):
            return
        loss = _loss_of(output)
        if loss is None:
            return
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss.to(self._loss_sum.device)
        self._loss_count += 1
        self._loss_summed = kwargs.get("num_items_in_batch") is not None

    def _take_loss(self):
        if self._loss_sum is None:
            return None
        loss = self._loss_sum if self._loss_summed else self._loss_sum / self._loss_count
        self._loss_sum, self._loss_count = None, 0
        return loss

    def _attach(self, model) -> None:
        self._detach()
        if model is not None and self.train_loss:
            self._hook = model.register_forward_hook(self._record, with_kwargs=True)

    def _detach(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._loss_sum, self._loss_count = None, 0

    # ---------------------------------------------------------------- events
    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if optimizer is not None:
            found = find_wrapper(optimizer, required=self.wrapper is None)
            if found is not None:
                self.wrapper = found
        if self.wrapper is None:
            raise TypeError("LROptCallback: no LROptimizerWrapper (pass optimizers=(wrapper, ...) to the Trainer)")
        if self.total_steps:
            fill_total_steps(self.wrapper, state.max_steps)
        self._attach(model)
        if self.log_dir is not None and self._logger is None and state.is_world_process_zero:
            from ..logging import TBLogger

            path = os.path.join(args.output_dir, "runs", "lropt") if self.log_dir is True else self.log_dir
            self._logger = TBLogger(path)

    def _feed_loss(self) -> None:
        if self.wrapper is None or not self.train_loss:
            return
        loss = _mean_or_none(self._take_loss(), self.wrapper.device)  # no-op unless multi-process
        if loss is not None:
            self.wrapper.observe(loss=loss)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self._feed_loss()

    def on_step_end(self, args, state, control, **kwargs):
        # Normally on_pre_optimizer_step has taken the loss already. Transformers versions without that
        # event land here: the loss is then fed after the step, and the controller sees it one step late.
        self._feed_loss()

    def on_evaluate(self, args, state, control, metrics=None, optimizer=None, **kwargs):
        if self.wrapper is None and optimizer is not None:  # trainer.evaluate() before train()
            self.wrapper = find_wrapper(optimizer, required=False)
        if self.wrapper is None or not metrics:
            return
        value = metrics.get(self.eval_loss_key)
        if value is None:
            candidates = [k for k in metrics if k.startswith("eval") and k.endswith("loss")]
            if len(candidates) == 1:
                value = metrics[candidates[0]]
            elif not self._warned_eval:
                warnings.warn(f"LROptCallback: no {self.eval_loss_key!r} in the evaluation metrics "
                              f"({sorted(metrics)}); pass eval_loss_key=", stacklevel=2)
                self._warned_eval = True
        if value is not None and math.isfinite(float(value)):
            self.wrapper.observe(val_loss=float(value))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._logger is None or self.wrapper is None:
            return
        for tag, value in lropt_scalars(self.wrapper, features=self.log_features).items():
            self._logger.writer.add_scalar(tag, value, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self._detach()
        if self._logger is not None:
            self._logger.flush()

    def close(self) -> None:
        """Close the TensorBoard writer (it is flushed at the end of training already)."""
        self._detach()
        if self._logger is not None:
            self._logger.close()
            self._logger = None

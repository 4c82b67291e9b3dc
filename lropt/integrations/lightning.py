"""Lightning integration.

Usage::

    from lropt import LROptimizerWrapper
    from lropt.integrations.lightning import LROptCallback

    class Model(L.LightningModule):
        def configure_optimizers(self):
            opt = LROptimizerWrapper(torch.optim.AdamW(self.parameters(), lr=1e-3),
                                     controller="default", total_steps=self.trainer.estimated_stepping_batches)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": opt.as_scheduler(), "interval": "step"}}

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", loss)          # what the callback feeds to observe(val_loss=...)

    L.Trainer(callbacks=[LROptCallback()]).fit(Model())

The scheduler facade is optional (its ``step()`` changes nothing); a real scheduler
there sets the *base* LR that the controller multiplies.

What :class:`LROptCallback` does:

- **Training loss.** In Lightning's default path (32-bit, or bf16 mixed precision)
  the optimizer is stepped as ``optimizer.step(closure)``; the closure runs
  ``training_step`` and ``backward`` and returns the loss, and the wrapper uses that
  return value, so the loss reaches the controller with no help. Where Lightning
  steps without a closure (fp16 AMP with a GradScaler, manual optimization) the
  callback supplies it: ``on_before_backward`` records each micro-batch's loss and
  ``on_before_optimizer_step`` (after the last backward, before ``step()``) feeds
  their sum (Lightning has already divided each by ``accumulate_grad_batches``)
  with ``observe(loss=...)``. ``on_train_batch_end`` would be one step late (it
  runs after the optimizer step), so it is not used.
- **Validation loss.** ``on_validation_end`` feeds ``trainer.callback_metrics[monitor]``
  (default ``"val_loss"``) to ``observe(val_loss=...)``; the sanity check is skipped.
- **Logging.** Lightning's ``LearningRateMonitor`` reads ``param_group["lr"]``, which
  holds the *base* LR. With ``log_lr=True`` (default) the callback logs lropt's
  scalars (``lropt/lr/pg{i}``: effective LR, ``lropt/multiplier/pg{i}``; features
  with ``log_features=True``) through ``pl_module.log`` every ``log_every_n_steps``.
- **Skipped steps.** A step the GradScaler skips never reaches the wrapper: no tick.
- **Run length.** A wrapper built without ``total_steps`` gets
  ``trainer.estimated_stepping_batches`` at ``on_fit_start`` when it is finite
  (``total_steps=False`` turns this off).

Multi-process (DDP): the losses the callback feeds are averaged over the ranks, and
every rank computes the same LR. In the closure path too: Lightning runs
``on_before_optimizer_step`` inside the closure, so the averaged loss reaches the
wrapper before the closure returns, and a loss given through ``observe(loss=...)``
wins over the closure's return value. With ``train_loss=False`` the wrapper uses
the closure's *local* loss, so ranks can compute different LRs; the callback warns
at ``on_fit_start`` then.
"""
from __future__ import annotations

import math
import warnings

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package
    import pytorch_lightning as pl

from . import fill_total_steps, find_wrapper, lropt_scalars
from .ddp import _mean_or_none

__all__ = ["LROptCallback"]


class LROptCallback(pl.Callback):
    """Feed Lightning's training and validation losses to an :class:`~lropt.LROptimizerWrapper`.

    Args:
        wrapper: the wrapper; default: the first wrapper among ``trainer.optimizers``.
        monitor: the logged metric fed to ``observe(val_loss=...)``.
        train_loss: feed the training loss where Lightning steps without a closure.
        log_lr: log the effective LR and multiplier per group (``pl_module.log``).
        log_features: also log the controller's features.
        total_steps: give a wrapper built without ``total_steps`` the trainer's
            ``estimated_stepping_batches`` at ``on_fit_start`` (when it is finite).
    """

    def __init__(self, wrapper=None, *, monitor: str = "val_loss", train_loss: bool = True,
                 log_lr: bool = True, log_features: bool = False, total_steps: bool = True):
        self.wrapper = None if wrapper is None else find_wrapper(wrapper)
        self.total_steps = total_steps
        self.monitor = monitor
        self.train_loss = train_loss
        self.log_lr = log_lr
        self.log_features = log_features
        self._loss = None

    def _resolve(self, trainer) -> None:
        if self.wrapper is not None:
            return
        for opt in trainer.optimizers:
            found = find_wrapper(opt, required=False)
            if found is not None:
                self.wrapper = found
                return
        raise TypeError("LROptCallback: configure_optimizers returned no LROptimizerWrapper")

    def on_fit_start(self, trainer, pl_module) -> None:
        self._resolve(trainer)
        self._loss = None
        if self.total_steps:
            fill_total_steps(self.wrapper, trainer.estimated_stepping_batches)
        if trainer.world_size > 1 and not self.train_loss and getattr(trainer.precision_plugin, "scaler", None) is None:
            warnings.warn(
                "lropt: under multi-process training with train_loss=False, the wrapper uses the closure's local "
                "loss, so ranks may compute different LRs (train_loss=True feeds the rank average)",
                stacklevel=2,
            )

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        if not self.train_loss or not trainer.training:
            return
        loss = loss.detach()
        self._loss = loss if self._loss is None else self._loss + loss

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.wrapper is None or find_wrapper(optimizer, required=False) is not self.wrapper:
            return
        loss, self._loss = self._loss, None
        if self.train_loss:
            loss = _mean_or_none(loss, self.wrapper.device)  # no-op unless multi-process
            if loss is not None:
                self.wrapper.observe(loss=loss)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.wrapper is None or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        value = _mean_or_none(None if value is None else value.detach().reshape(()).float(), self.wrapper.device)
        if value is not None and math.isfinite(float(value)):
            self.wrapper.observe(val_loss=value)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.log_lr or self.wrapper is None or trainer.global_step % max(trainer.log_every_n_steps, 1):
            return
        scalars = lropt_scalars(self.wrapper, features=self.log_features)
        scalars = {k: v for k, v in scalars.items() if self.log_features or "/features/" not in k}
        pl_module.log_dict(scalars, on_step=True, on_epoch=False, logger=True, prog_bar=False)

"""Validation during meta-training: the controller, deployed through the real wrapper,
against constant and cosine LR on held-out tasks, at the base LR and 10x off each way.

Score of a (task, base-LR factor) cell: ``log(final val loss with controller) -
log(final val loss with constant LR)`` at the same base LR, capped at ``±5``;
the validation score is the mean over cells (negative = better than constant).
"""
from __future__ import annotations

import math

import torch

from ..schedules import make_optimizer
from ..tasks.base import Task, forward
from ..tasks.seeding import SALT_RUN, mix_seed, seeded_global_rng
from ..wrapper import LROptimizerWrapper

LR_FACTORS = (0.1, 1.0, 10.0)
CAP = 5.0


def train_run(task: Task, *, steps: int, lr: float, optimizer: str = "adam", controller=None,
              schedule: str = "constant", seed: int = 0, device=None, record_lr: bool = False) -> dict:
    """Train ``task`` for ``steps``; return final validation loss (inf if diverged) and the LR trace.

    The global RNG (dropout) is seeded from ``seed`` for the run, so a controller and
    its baselines see the same masks, and a score does not depend on when it is taken.
    """
    with seeded_global_rng(mix_seed(SALT_RUN, seed), device):
        model = task.init_model(seed).to(device)
        opt = make_optimizer(optimizer, model.parameters(), lr)
        sched = None
        if schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        if controller is not None:
            opt = LROptimizerWrapper(opt, controller=controller, total_steps=steps)
        lrs = []
        for step in range(steps):
            inputs, targets = task.train_batch(step, device=device)
            loss = task.loss(forward(model, inputs), targets)
            if not torch.isfinite(loss):
                return {"val_loss": math.inf, "lrs": lrs, "diverged": True}
            loss.backward()
            if controller is not None:
                opt.step(loss=loss)
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
            if sched is not None:
                sched.step()
            if record_lr:
                lrs.append(opt.get_last_lr()[0] if controller is not None else opt.param_groups[0]["lr"])
        val = task.evaluate(model, device=device)["val_loss"]
        return {"val_loss": val if math.isfinite(val) else math.inf, "lrs": lrs, "diverged": not math.isfinite(val)}


def _log_ratio(a: float, b: float) -> float:
    if not math.isfinite(a) and not math.isfinite(b):
        return 0.0
    if not math.isfinite(a):
        return CAP
    if not math.isfinite(b):
        return -CAP
    return max(-CAP, min(CAP, math.log(max(a, 1e-12)) - math.log(max(b, 1e-12))))


class Validator:
    """Scores controllers on fixed validation tasks; baseline runs are computed once and cached."""

    def __init__(self, tasks: list[Task], *, steps: int, optimizer: str = "adam", device=None,
                 lr_factors=LR_FACTORS):
        self.tasks, self.steps, self.optimizer, self.device = tasks, steps, optimizer, device
        self.lr_factors = tuple(lr_factors)
        self._baselines: dict = {}

    def _cells(self):
        for i, task in enumerate(self.tasks):
            for f in self.lr_factors:
                yield i, task, f, task.base_lr(self.optimizer) * f

    def baselines(self) -> dict:
        if not self._baselines:
            for i, task, f, lr in self._cells():
                for sched in ("constant", "cosine"):
                    self._baselines[(i, f, sched)] = train_run(
                        task, steps=self.steps, lr=lr, optimizer=self.optimizer, schedule=sched,
                        device=self.device, record_lr=(f == 1.0),
                    )
        return self._baselines

    def score(self, controller) -> dict:
        """Mean capped log-ratio against constant LR, per-cell details, and sample LR traces."""
        base = self.baselines()
        cells, traces = [], {}
        for i, task, f, lr in self._cells():
            run = train_run(task, steps=self.steps, lr=lr, optimizer=self.optimizer, controller=controller,
                            device=self.device, record_lr=(f == 1.0 and i == 0))
            const, cos = base[(i, f, "constant")], base[(i, f, "cosine")]
            cells.append({
                "task": task.name, "lr_factor": f, "controller": run["val_loss"],
                "constant": const["val_loss"], "cosine": cos["val_loss"],
                "vs_constant": _log_ratio(run["val_loss"], const["val_loss"]),
                "vs_cosine": _log_ratio(run["val_loss"], cos["val_loss"]),
            })
            if run["lrs"]:
                traces = {"controller": run["lrs"], "constant": const["lrs"], "cosine": cos["lrs"]}
        score = sum(c["vs_constant"] for c in cells) / len(cells)
        return {"score": score, "cells": cells, "traces": traces,
                "vs_cosine": sum(c["vs_cosine"] for c in cells) / len(cells)}

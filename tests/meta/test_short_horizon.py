"""No short-horizon greed: a controller meta-trained with truncations of 10-15 steps on 150-step runs
must not shrink the LR below what the whole run wants.

For a fixed task family we find the best constant LR multiplier for the full horizon on a grid, then
meta-train with the default estimator and compare the LR the controller uses (geometric mean over
the run) and the final loss it reaches with the losses of constant LRs, on held-out task draws.

What holds across meta-training seeds 0-3 (measured 2026-11-22 with this test's
recipe, seeds passed to ``MetaTrainer``): the controller never shrinks the LR (geometric-mean
multiplier 1.3-2.1x the best constant on the noisy quadratic, 0.7-2.3x on the teacher MLP) and
always beats a 4x-shrunk constant LR. It does *not* reliably match the best constant: on the noisy
quadratic its final loss was 1.4-2.5x the best constant's (the time-weighted meta-objective still
rewards mid-run progress, so it prefers ~1.5-2x the LR), on the teacher MLP within 0-21%.
"""
import math

import numpy as np
import pytest
import torch

from lropt.meta.evaluate import train_run
from lropt.meta.recipe import from_dict, load_recipe
from lropt.meta.trainer import MetaTrainer, family_from_entry

HORIZON = 150
GRID = [2.0**k for k in range(-4, 5)]   # 1/16 .. 16 x base LR

FAMILIES = {
    "noisy-quadratic": {"family": "quadratic", "dim": 10, "cond": 100.0, "noise": 1.0, "scale": 1.0,
                        "batch_size": 8, "rotate": True},
    "teacher-mlp": {"family": "teacher_mlp", "d_in": 16, "n_classes": 4, "width": 32, "depth": 2,
                    "activation": "relu", "batch_size": 32, "label_noise": 0.05},
}


def recipe_for(entry):
    base = load_recipe().to_dict()
    base["tasks"].update(train=[entry], validation=[entry], validation_count=1, base_lr_spread=0.0)
    base["inner"].update(horizon_min=HORIZON, horizon_max=HORIZON, truncation_min=10, truncation_max=15,
                         runs_per_group=8, groups=1, hide_progress=0.0)
    base["outer"].update(steps=250, eval_every=10_000)
    return from_dict(base)


def final_loss(task, lr, controller=None):
    return train_run(task, steps=HORIZON, lr=lr, controller=controller, record_lr=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_meta_trained_lr_is_not_short_sighted(name):
    torch.set_num_threads(1)
    recipe = recipe_for(FAMILIES[name])
    assert recipe.estimator.name == "pes", "this test checks the default estimator"
    trainer = MetaTrainer(recipe, seed=0)
    for _ in range(recipe.outer.steps):
        trainer.outer_step()
    controller = trainer.controller.eval()

    family = family_from_entry(FAMILIES[name])
    tasks = [family.sample(np.random.default_rng(10_000 + i)) for i in range(3)]
    base = [t.base_lr("adam") for t in tasks]
    grid_loss = {m: np.mean([final_loss(t, b * m)["val_loss"] for t, b in zip(tasks, base)]) for m in GRID}
    best_m = min(grid_loss, key=grid_loss.get)

    runs = [final_loss(t, b, controller) for t, b in zip(tasks, base)]
    ctrl_loss = np.mean([r["val_loss"] for r in runs])
    log_mults = [math.log(lr / b) for r, b in zip(runs, base) for lr in r["lrs"]]
    mean_mult = math.exp(np.mean(log_mults))

    report = f"{name}: best constant x{best_m:g} loss {grid_loss[best_m]:.4f}; controller mean x{mean_mult:.3f} loss {ctrl_loss:.4f}"
    print(report)
    assert mean_mult >= best_m / 2, f"controller shrank the LR (short-horizon greed): {report}"
    assert ctrl_loss < grid_loss[best_m / 4], f"controller loses to a 4x-shrunk constant LR: {report}"

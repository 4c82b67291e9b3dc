"""run_method: same start for every method, divergence detection, what gets recorded."""
import math

import pytest
import torch

from lropt.bench.runner import ALL_METHODS, LROPT, run_method
from lropt.tasks import get_task


@pytest.fixture(scope="module")
def task():
    return get_task("teacher-mlp-small")


def test_every_method_starts_from_the_same_model_and_data(task):
    torch.set_num_threads(1)
    runs = [run_method(task, m, base_lr=3e-3, steps=2, seed=7, eval_every=1) for m in ALL_METHODS]
    first = {r.method: r.first_train_loss for r in runs}
    assert len(set(first.values())) == 1, first
    assert len({r.val_loss[0] for r in runs}) == 1  # step-0 evaluation: before any update
    assert all(r.eval_steps == [0, 1, 2] and r.steps_done == 2 and not r.diverged for r in runs)


def test_identity_controller_reproduces_constant_lr_exactly(task):
    a = run_method(task, LROPT, base_lr=3e-3, steps=20, seed=1, eval_every=5, controller="identity")
    b = run_method(task, "constant", base_lr=3e-3, steps=20, seed=1, eval_every=5)
    assert a.val_loss == b.val_loss and a.lr == b.lr
    assert a.multiplier == [1.0] * len(a.lr_steps) and b.multiplier is None
    assert a.val_metric is not None and len(a.val_metric) == len(a.eval_steps)


def test_dropout_runs_are_reproducible_and_leave_the_global_rng_alone():
    task = get_task("titanic")   # an MLP with dropout: training draws from the global RNG
    assert any(isinstance(m, torch.nn.Dropout) for m in task.init_model(0).modules())
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b = (run_method(task, "constant", base_lr=1e-2, steps=30, seed=3, eval_every=10) for _ in range(2))
    assert torch.equal(torch.get_rng_state(), before)
    assert a.val_loss == b.val_loss
    c = run_method(task, "constant", base_lr=1e-2, steps=30, seed=4, eval_every=10)
    assert c.val_loss != a.val_loss


def test_records_curves_and_the_lr_each_step_used(task):
    r = run_method(task, "cosine", base_lr=1e-2, steps=12, seed=0, eval_every=5, lr_every=2)
    assert r.eval_steps == [0, 5, 10, 12]
    assert r.lr_steps == [0, 2, 4, 6, 8, 10, 11]
    assert r.lr[0] == pytest.approx(1e-2) and r.lr == sorted(r.lr, reverse=True)
    assert r.best_val_loss == min(r.val_loss) and r.final_val_loss == r.val_loss[-1]
    assert r.wall_s >= r.train_s > 0
    d = r.to_dict()
    assert {"val_loss", "lr", "best_val_loss", "final_metric", "diverged"} <= d.keys()


def test_divergence_is_detected_and_stops_the_run():
    task = get_task("quadratic-10d")
    r = run_method(task, "constant", base_lr=50.0, steps=200, seed=0, eval_every=10, optimizer="sgd")
    assert r.diverged and r.diverged_at is not None and r.steps_done < 200
    assert r.final_val_loss == math.inf and r.final_metric is None
    assert math.isfinite(r.best_val_loss)  # the step-0 evaluation
    assert r.max_loss_ratio > 2.0


def test_an_infinite_divergence_factor_stops_only_on_nan_or_inf():
    task = get_task("quadratic-10d")
    r = run_method(task, "constant", base_lr=50.0, steps=200, seed=0, eval_every=10, optimizer="sgd",
                   divergence_factor=math.inf)
    assert r.diverged and r.max_loss_ratio > 1e3


def test_unknown_method_is_refused_with_close_matches(task):
    with pytest.raises(ValueError, match="cosine"):
        run_method(task, "cosin", base_lr=1e-3, steps=1, seed=0, eval_every=1)

"""Estimators point the right way where the answer is known, and divergence never poisons them."""
import math

import pytest
import torch

from lropt import LRController
from lropt import features as F
from lropt.meta.estimators import pes, tbptt
from lropt.meta.inner_optim import inner_optimizer
from lropt.meta.unroll import (
    inner_step,
    per_run_controller_fn,
    shared_controller_fn,
    start_group,
    validation_loss,
)
from lropt.tasks.synthetic.quadratic import QuadraticTask


def quad(noise=0.0):
    return QuadraticTask(name="q", family="quadratic", data_seed=1, dim=10, cond=10.0, noise=noise, batch_size=8)


def group(ctrl, lr, runs=4, horizon=60):
    return start_group(quad(), inner_optimizer("adam"), [lr] * runs, horizon, lambda b: ctrl.init_state(b),
                       init_seeds=[s // 2 for s in range(runs)], show_progress=True)


def test_tbptt_says_raise_a_far_too_small_lr():
    ctrl = LRController()
    g = group(ctrl, lr=1e-5)
    _, loss, info = tbptt(g, ctrl, 10, cap=2.0)
    assert info["steps"] == 10 and math.isfinite(loss)
    assert ctrl.head.bias.grad.item() < 0      # gradient descent raises the bias, hence the LR


def test_pes_says_raise_a_far_too_small_lr():
    torch.manual_seed(0)
    ctrl = LRController()
    gen = torch.Generator().manual_seed(0)
    bias_grads = []
    for seed in range(4):
        g = group(ctrl, lr=1e-4, runs=16)
        grads, loss, _ = pes(g, ctrl, 20, sigma=0.1, cap=2.0, generator=gen)
        bias_grads.append(grads["head.bias"].item())
        assert all(torch.isfinite(v).all() for v in grads.values())
    assert sum(bias_grads) / len(bias_grads) < 0


def test_pes_val_objective_scores_the_validation_loss_at_the_truncation_end():
    ctrl = LRController()
    g = group(ctrl, lr=1e-2, runs=4, horizon=40)
    _, loss, info = pes(g, ctrl, 10, sigma=0.1, cap=2.0, generator=torch.Generator().manual_seed(0),
                        power=1.0, objective="val")
    assert info["steps"] == 10
    # weight (p + 1)(t / T)^p at t = 10 of 40 with p = 1, times the capped log-ratio of each run's val loss
    expected = (torch.log(validation_loss(g)) - g.log_loss0).clamp(max=2.0) * 2.0 * (10 / 40)
    assert loss == pytest.approx(float(expected.mean()), rel=1e-5)
    twin = group(ctrl, lr=1e-2, runs=4, horizon=40)      # the same runs, scored on the training batches
    _, train_loss, _ = pes(twin, ctrl, 10, sigma=0.1, cap=2.0, generator=torch.Generator().manual_seed(0), power=1.0)
    assert all(torch.equal(twin.params[k], g.params[k]) for k in g.params)   # same runs, scored differently
    assert train_loss != pytest.approx(loss)
    with pytest.raises(ValueError, match="objective"):
        pes(g, ctrl, 1, sigma=0.1, cap=2.0, generator=torch.Generator(), objective="validation")


def test_pes_needs_pairs():
    ctrl = LRController()
    g = group(ctrl, lr=1e-3, runs=3)
    try:
        pes(g, ctrl, 2, sigma=0.1, cap=2.0, generator=torch.Generator())
    except ValueError as exc:
        assert "even number" in str(exc)
    else:
        raise AssertionError("odd group size accepted")


def test_diverging_runs_are_frozen_and_gradient_stays_finite():
    ctrl = LRController()
    with torch.no_grad():
        ctrl.head.bias.fill_(5.0)                # push the LR up as fast as allowed
    g = start_group(quad(), inner_optimizer("sgd"), [0.5, 50.0], 100, lambda b: ctrl.init_state(b),
                    init_seeds=[0, 0], show_progress=True)
    _, loss, _ = tbptt(g, ctrl, 15, cap=2.0)
    assert g.alive.tolist() == [True, False]    # the 50.0 run diverged and was frozen
    assert all(torch.isfinite(p.grad).all() for p in ctrl.parameters())
    assert all(torch.isfinite(v).all() for v in g.params.values())
    assert loss <= 2.0


def test_per_run_controller_matches_shared_when_weights_equal():
    torch.manual_seed(0)
    ctrl = LRController()
    with torch.no_grad():
        ctrl.head.weight.normal_()
    feats = torch.randn(4, F.num_features())
    state = ctrl.init_state(4)
    ok = torch.tensor([True, True, False, True])
    shared = shared_controller_fn(ctrl)(feats, state, ok)
    stacked = {n: p.detach().unsqueeze(0).expand(4, *p.shape) for n, p in ctrl.named_parameters()}
    per_run = per_run_controller_fn(ctrl, stacked)(feats, state, ok)
    for k in shared:
        torch.testing.assert_close(shared[k], per_run[k])


def test_on_an_overfitting_run_the_val_objective_says_lower_the_lr_and_train_says_raise():
    """Why the validation objective exists: past the point where a small training set is
    memorised, a higher LR still lowers the training loss but raises the validation loss."""
    from lropt.tasks import get_family

    task = get_family("teacher_mlp", train_rows=64, width=256, depth=2, label_noise=0.2, batch_size=32,
                      d_in=16, n_classes=4).sample(0)
    bias_grad = {}
    for objective in ("val", "train"):
        grads = []
        for rep in range(4):  # single draws disagree in sign now and then; the mean of four has not
            torch.manual_seed(rep)                        # the controller's random cell weights
            ctrl = LRController()
            g = start_group(task, inner_optimizer("adam"), [3e-3] * 16, 400, lambda b: ctrl.init_state(b),
                            init_seeds=[s // 2 for s in range(16)], show_progress=True)
            with torch.no_grad():
                for _ in range(150):                      # well into overfitting (see test_synthetic)
                    inner_step(g, shared_controller_fn(ctrl))
            out, _, _ = pes(g, ctrl, 30, sigma=0.3, cap=2.0, generator=torch.Generator().manual_seed(rep),
                            objective=objective)
            grads.append(out["head.bias"].item())
        bias_grad[objective] = sum(grads) / len(grads)
    assert bias_grad["val"] > 0 > bias_grad["train"], bias_grad   # descent lowers / raises the bias

"""Meta-training's inner loop and the deployed wrapper compute the same features and LRs."""
import math

import pytest
import torch

from lropt import LROptimizerWrapper, LRController
from lropt.features import FEATURE_NAMES
from lropt.meta.inner_optim import inner_optimizer
from lropt.meta.unroll import inner_step, shared_controller_fn, start_group
from lropt.tasks.base import forward
from lropt.tasks.synthetic.teacher_mlp import TeacherMLPTask

STEPS, HORIZON, LR = 40, 100, 3e-3


def controller(start_log_mult=0.0):
    torch.manual_seed(3)
    ctrl = LRController(start_log_mult=start_log_mult)
    with torch.no_grad():
        ctrl.head.weight.normal_(0, 1.0)
    return ctrl.requires_grad_(False)


def task():
    return TeacherMLPTask(name="t", family="teacher_mlp", data_seed=5, d_in=8, n_classes=3, width=16, depth=2,
                          batch_size=32)


@pytest.mark.parametrize("val_every,start", [(0, 0.0), (7, 0.0), (0, -1.0)])
def test_same_features_and_lrs_on_the_same_trajectory(val_every, start):
    ctrl, t = controller(start), task()
    group = start_group(t, inner_optimizer("adam"), [LR], HORIZON, lambda b: ctrl.init_state(b),
                        init_seeds=[11], show_progress=True, val_every=val_every)
    fn = shared_controller_fn(ctrl)
    meta_lrs, meta_feats = [], []
    for _ in range(STEPS):
        captured = {}

        def spy(feats, state, ok):
            captured["f"] = feats.clone()
            return fn(feats, state, ok)

        inner_step(group, spy)
        meta_feats.append(captured["f"][0])
        meta_lrs.append(float(LR * torch.exp(group.ctrl["log_mult"][0])))

    model = t.init_model(11)
    opt = LROptimizerWrapper(torch.optim.Adam(model.parameters(), lr=LR), controller=controller(start), total_steps=HORIZON)
    lrs, feats = [], []
    for step in range(STEPS):
        inputs, targets = t.train_batch(step)
        loss = t.loss(forward(model, inputs), targets)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()
        lrs.append(opt.get_last_lr()[0])
        feats.append(opt._last_features[0])
        if val_every and (step + 1) % val_every == 0:   # what lropt compare and the HF callback do
            opt.observe(val_loss=t.evaluate(model)["val_loss"])

    feats, meta_feats = torch.stack(feats), torch.stack(meta_feats)
    torch.testing.assert_close(feats, meta_feats, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(meta_lrs), rtol=1e-4, atol=0)
    assert max(lrs) / min(lrs) > 1.05, "controller should have moved the LR for the comparison to mean something"
    assert lrs[0] < LR * math.exp(start + 0.11), "the first step starts from the controller's start"
    val_delta = feats[:, FEATURE_NAMES.index("val_delta")]
    assert bool((val_delta != 0).any()) == bool(val_every), "the validation feature is fed exactly when asked"
    align = feats[:, FEATURE_NAMES.index("grad_align")]
    assert align[0] == 0 and bool((align[1:] != 0).all()), "grad_align reads 0 before the first update, then moves"
    # and the parameters agree too
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), group.params[name][0], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["wine", "titanic"])
def test_validation_loss_matches_task_evaluate_with_dropout_off(name):
    from lropt.meta.unroll import validation_loss
    from lropt.tasks import get_task

    t = get_task(name)   # MLPs with dropout: evaluation must run in eval mode
    assert any(isinstance(m, torch.nn.Dropout) for m in t.init_model(0).modules())
    if name == "titanic":   # unequal validation batches: weighted by examples, as evaluate() does
        assert len({len(y) for _, y in t.val_batches()}) > 1
    group = start_group(t, inner_optimizer("adam"), [1e-3, 1e-3], 50, lambda b: LRController().init_state(b),
                        init_seeds=[1, 2], val_every=5)
    val = validation_loss(group)
    expected = [t.evaluate(t.init_model(s))["val_loss"] for s in (1, 2)]
    torch.testing.assert_close(val, torch.tensor(expected), rtol=1e-5, atol=1e-6)
    assert group.template.training, "the template goes back to training mode"

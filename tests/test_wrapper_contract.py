"""The wrapper's contract, for every optimizer in the registry."""
import copy

import pytest
import torch

from lropt import LRController, LROptimizerWrapper
from common import active_controller, loss_at, make_model, two_groups
from optim_registry import ALL_IDS, OPTIMIZERS, TENSOR_LR

STEPS = 15


def run(info, controller, steps=STEPS, model=None, wrap=True, **wkw):
    model = model or make_model()
    opt = info.make(two_groups(model))
    if wrap:
        opt = LROptimizerWrapper(opt, controller=controller, total_steps=steps, **wkw)
    lrs = []
    for step in range(steps):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss) if wrap else opt.step()
        opt.zero_grad()
        lrs.append(opt.get_last_lr() if wrap else [float(g["lr"]) for g in opt.param_groups])
    return model, opt, lrs


def advance(model, opt, steps) -> list:
    """Train a wrapped optimizer over ``steps`` (step indices); its LRs after each step."""
    lrs = []
    for step in steps:
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()
        lrs.append(opt.get_last_lr())
    return lrs


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("info", OPTIMIZERS, ids=ALL_IDS)
@pytest.mark.parametrize("controller", [None, "fresh", "identity"])
def test_identity_is_bit_identical(info, controller):
    ctrl = LRController() if controller == "fresh" else controller
    bare, _, bare_lrs = run(info, None, wrap=False)
    wrapped, _, lrs = run(info, ctrl)
    for a, b in zip(params_of(bare), params_of(wrapped)):
        assert torch.equal(a, b)
    assert lrs == bare_lrs


@pytest.mark.parametrize("info", OPTIMIZERS, ids=ALL_IDS)
def test_is_native_optimizer(info):
    model = make_model()
    base = info.make(two_groups(model))
    opt = LROptimizerWrapper(base, controller=None)
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.param_groups is base.param_groups
    assert opt.state is base.state
    assert opt.defaults is base.defaults


@pytest.mark.parametrize("info", OPTIMIZERS, ids=ALL_IDS)
def test_controller_moves_lr_within_bounds(info):
    ctrl = active_controller(max_log_step=0.2, max_log_mult=1.0)
    _, opt, lrs = run(info, ctrl, steps=30)
    base = [1e-2, 3e-3]
    mults = [[lr / b for lr, b in zip(row, base)] for row in lrs]
    assert any(abs(m - 1.0) > 1e-3 for row in mults for m in row), "controller never moved the LR"
    for row in mults:
        for m in row:
            assert torch.exp(torch.tensor(-1.0)) - 1e-6 <= m <= torch.exp(torch.tensor(1.0)) + 1e-6
    prev = [1.0, 1.0]
    for row in mults:  # no single step changes the LR by more than exp(max_log_step)
        for m, p in zip(row, prev):
            assert abs(torch.log(torch.tensor(m / p))) <= 0.2 + 1e-5
        prev = row


@pytest.mark.parametrize("info", OPTIMIZERS, ids=ALL_IDS)
def test_resume_continues_same_trajectory(info):
    """Stop at step 8, save, rebuild from the state dicts, continue: bit-identical to an unbroken run."""
    steps, cut = 16, 8
    full_model, _, full_lrs = run(info, active_controller(), steps=steps)

    model = make_model()
    opt = LROptimizerWrapper(info.make(two_groups(model)), controller=active_controller(), total_steps=steps)
    advance(model, opt, range(cut))
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())

    model2 = make_model(seed=123)
    model2.load_state_dict(saved_model)
    opt2 = LROptimizerWrapper(info.make(two_groups(model2)), controller=active_controller(seed=9), total_steps=steps)
    opt2.load_state_dict(saved_opt)
    lrs = advance(model2, opt2, range(cut, steps))
    assert lrs == full_lrs[cut:]
    for a, b in zip(params_of(full_model), params_of(model2)):
        assert torch.equal(a, b)


def test_resume_takes_the_saved_controller_settings():
    """A state dict of a controller with other settings (start, step bound, guard) resumes as saved: the wrapper's
    controller takes the saved settings with the saved weights, as torch optimizers take saved hyperparameters."""
    info = OPTIMIZERS[0]
    steps, cut = 16, 8
    saved_kw = dict(max_log_step=0.3, max_log_mult=2.0, guard_loss_ratio=1.2, start_log_mult=-1.0)
    full_model, full_opt, full_lrs = run(info, active_controller(**saved_kw), steps=steps)

    model = make_model()
    opt = LROptimizerWrapper(info.make(two_groups(model)), controller=active_controller(**saved_kw), total_steps=steps)
    advance(model, opt, range(cut))
    model2 = make_model(seed=123)
    model2.load_state_dict(model.state_dict())
    opt2 = LROptimizerWrapper(info.make(two_groups(model2)), controller=active_controller(seed=9), total_steps=steps)
    assert opt2.controller.config != full_opt.controller.config
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.controller.config == full_opt.controller.config
    lrs = advance(model2, opt2, range(cut, steps))
    assert lrs == full_lrs[cut:]

    # the other way: a state dict of a controller at the defaults removes a start and a guard step it lacks
    back = LROptimizerWrapper(info.make(two_groups(make_model())), total_steps=steps,
                              controller=active_controller(start_log_mult=-1.0, guard_log_step=0.5))
    back.load_state_dict(LROptimizerWrapper(info.make(two_groups(make_model())), controller=active_controller(),
                                            total_steps=steps).state_dict())
    assert back.controller.config == active_controller().config
    assert "start_log_mult" not in back.controller.config and "guard_log_step" not in back.controller.config


@pytest.mark.parametrize("info", TENSOR_LR, ids=[o.name for o in TENSOR_LR])
def test_tensor_lr_multiplied_in_place(info):
    """The base step sees base * multiplier in the same tensor; afterwards the base LR is back."""
    model = make_model()
    base = info.make(two_groups(model))
    lr_objects = [g["lr"] for g in base.param_groups]
    opt = LROptimizerWrapper(base, controller=active_controller())
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append([float(g["lr"]) for g in o.param_groups]))
    for step in range(5):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()
        assert seen[-1] == pytest.approx(opt.get_last_lr(), rel=1e-6)
    for g, t, b in zip(opt.param_groups, lr_objects, (1e-2, 3e-3)):
        assert g["lr"] is t
        assert float(t) == pytest.approx(b)
    assert abs(seen[-1][0] - 1e-2) > 1e-6


@pytest.mark.parametrize("info", OPTIMIZERS[:4], ids=ALL_IDS[:4])
def test_closure(info):
    model = make_model()
    opt = LROptimizerWrapper(info.make(two_groups(model)), controller=active_controller())

    def closure():
        opt.zero_grad()
        loss = loss_at(model, 0)
        loss.backward()
        return loss

    first = opt.step(closure)
    assert torch.is_tensor(first)
    assert opt._feat["count"][0] == 1
    later = [float(opt.step(closure).detach()) for _ in range(10)]
    assert later[-1] < float(first)

"""accelerate: ``accelerator.prepare(model, wrapper, wrapper.as_scheduler())`` on CPU."""
import pytest
import torch

accelerate = pytest.importorskip("accelerate")

from integ_util import active_controller  # noqa: E402

from lropt import LROptimizerWrapper  # noqa: E402
from lropt.integrations import find_wrapper  # noqa: E402

STEPS = 6


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def make_wrapper(model):
    groups = [{"params": list(model[0].parameters()), "lr": 1e-2}, {"params": list(model[2].parameters()), "lr": 3e-3}]
    return LROptimizerWrapper(torch.optim.AdamW(groups), controller=active_controller(), total_steps=STEPS)


def batch(step):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(16, 6, generator=g), torch.randn(16, 3, generator=g)


def reference_run():
    """The plain loop: ``wrapper.step(loss=loss)``."""
    model = make_model()
    wrapper = make_wrapper(model)
    lrs = []
    for step in range(STEPS):
        x, y = batch(step)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        wrapper.step(loss=loss)
        wrapper.zero_grad()
        lrs.append(wrapper.get_last_lr())
    return model, lrs


def new_accelerator():
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    return accelerate.Accelerator(cpu=True)


def test_prepare_and_step_matches_plain_loop():
    ref_model, ref_lrs = reference_run()

    accelerator = new_accelerator()
    model = make_model()
    wrapper = make_wrapper(model)
    model, opt, sched = accelerator.prepare(model, wrapper, wrapper.as_scheduler())
    assert isinstance(opt, accelerate.optimizer.AcceleratedOptimizer)
    assert find_wrapper(opt) is wrapper
    lrs = []
    for step in range(STEPS):
        x, y = batch(step)
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        wrapper.observe(loss=loss)  # AcceleratedOptimizer.step() takes no loss: feed it first
        opt.step()
        sched.step()
        opt.zero_grad()
        lrs.append(sched.get_last_lr())
        assert sched.get_last_lr() == wrapper.get_last_lr()

    assert wrapper._ticks == STEPS
    assert lrs == ref_lrs  # same LR trajectory as the plain loop, bit for bit
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(p, q)
    assert lrs[-1] != [1e-2, 3e-3]


def test_scaler_skipped_step_does_not_tick():
    accelerator = new_accelerator()
    accelerator.scaler = torch.amp.GradScaler("cpu")  # accelerate builds one only for fp16 on an accelerator
    model = make_model()
    wrapper = make_wrapper(model)
    model, opt = accelerator.prepare(model, wrapper)
    poison = {"on": False}
    model[2].weight.register_hook(lambda g: torch.full_like(g, float("inf")) if poison["on"] else g)
    skipped = []
    for step in range(STEPS):
        poison["on"] = step == 2
        x, y = batch(step)
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        wrapper.observe(loss=loss)
        lr_before = wrapper.get_last_lr()
        opt.step()
        opt.zero_grad()
        skipped.append(accelerator.optimizer_step_was_skipped)
        if skipped[-1]:
            assert wrapper.get_last_lr() == lr_before
    assert skipped == [False, False, True, False, False, False]
    assert wrapper._ticks == STEPS - 1
    assert all(torch.isfinite(p).all() for p in model.parameters())

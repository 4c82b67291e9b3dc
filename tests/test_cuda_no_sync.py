"""On CUDA, a wrapped step with a tensor LR never waits for the device.

DESIGN.md: features and the controller stay on the device, LRs are written into
tensors, and logging reads the device only every ``log_every`` steps. These
tests run the hot path under ``torch.cuda.set_sync_debug_mode("error")``, which
turns any host-device synchronisation into a RuntimeError. Skipped without CUDA.
"""
import contextlib

import pytest
import torch

from common import active_controller, make_model
from lropt import LROptimizerWrapper

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@contextlib.contextmanager
def sync_is_error():
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(0)


def setup(controller, every: int, **kwargs):
    """A model on CUDA with two groups, fused AdamW with tensor LRs on the device, wrapped."""
    model = make_model().cuda()
    groups = [{"params": list(model[0].parameters()), "lr": torch.tensor(1e-2, device="cuda")},
              {"params": list(model[2].parameters()), "lr": torch.tensor(3e-3, device="cuda")}]
    base = torch.optim.AdamW(groups, fused=True)
    opt = LROptimizerWrapper(base, controller=controller, every=every, total_steps=1000, **kwargs)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(32, 6, generator=g).cuda(), torch.randn(32, 3, generator=g).cuda()) for _ in range(4)]
    return model, opt, batches


def forward_backward(model, batch):
    x, y = batch
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    return loss


def test_sync_debug_mode_catches_a_sync():
    """Guard: the detector is live, so the tests below are not passing vacuously."""
    x = torch.ones(1, device="cuda")
    with pytest.raises(RuntimeError), sync_is_error():
        x.item()


@pytest.mark.parametrize("every", [1, 3])
@pytest.mark.parametrize("which", ["default", "active"])
def test_wrapped_fused_step_with_tensor_lr_does_not_sync(which, every):
    controller = "default" if which == "default" else active_controller()
    model, opt, batches = setup(controller, every)
    lrs_before = [g["lr"].clone() for g in opt.param_groups]
    for step in range(7):  # the first step includes the base optimizer's lazy state init
        loss = forward_backward(model, batches[step % len(batches)])
        with sync_is_error():
            opt.step(loss=loss)
            opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    # the base LR tensors are restored after each step, and the controller really ran
    for g, before in zip(opt.param_groups, lrs_before):
        assert torch.equal(g["lr"], before)
    assert opt._ticks == 7
    if which == "active":
        assert not torch.allclose(opt.multipliers(), torch.ones(2, device="cuda"))


def test_logging_syncs_only_on_log_steps(tmp_path):
    log_every = 4
    model, opt, batches = setup(active_controller(), 1, log_dir=tmp_path / "tb", log_every=log_every)
    for step in range(2 * log_every):
        loss = forward_backward(model, batches[step % len(batches)])
        logs_now = (step + 1) % log_every == 0  # the wrapper logs after its tick count reaches a multiple
        with contextlib.nullcontext() if logs_now else sync_is_error():
            opt.step(loss=loss)
            opt.zero_grad(set_to_none=True)
    opt.close()
    assert any((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_compiled_controller_step_does_not_sync_and_matches_eager():
    """compile=True on CUDA: once compiled (the first calls may sync while compiling), no step waits for
    the device, and the multipliers follow the eager wrapper's."""
    runs = {}
    for compile_ in (False, True):
        model, opt, batches = setup(active_controller(), 1, compile=compile_)
        mults = []
        for step in range(10):
            loss = forward_backward(model, batches[step % len(batches)])
            with sync_is_error() if step >= 4 else contextlib.nullcontext():
                opt.step(loss=loss)
                opt.zero_grad(set_to_none=True)
            mults.append(opt.multipliers().clone())
        runs[compile_] = torch.stack(mults)
    torch.testing.assert_close(runs[True], runs[False], rtol=1e-4, atol=1e-6)

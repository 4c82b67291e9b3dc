"""``capturable=True``: lropt state stays in the same tensors, so a CUDA graph can capture and replay
a wrapped step. On CPU: the capturable path against the default one, step by step, and the
settings it refuses. On CUDA: a replayed graph against eager steps."""
import pytest
import torch

from common import active_controller, batch, loss_at, make_model
from lropt import LROptimizerWrapper


def _tensor_lr_groups(model, device="cpu"):
    return [{"params": list(model[0].parameters()), "lr": torch.tensor(1e-2, device=device)},
            {"params": list(model[2].parameters()), "lr": torch.tensor(3e-3, device=device)}]


def _wrapped(capturable: bool, steps: int, device="cpu"):
    model = make_model().to(device)
    ctrl = active_controller(guard_loss_ratio=1.5, start_log_mult=-1.2, overfit_guard=0.03)
    opt = LROptimizerWrapper(torch.optim.AdamW(_tensor_lr_groups(model, device)), controller=ctrl,
                             total_steps=steps, capturable=capturable)
    return model, opt


def _state_tensors(opt):
    return ([*opt._feat.values(), *opt._ctrl_state.values(), opt._update_ratio, opt._tick_t, opt._last_features]
            + [s for _, s in opt._prev_update])


def test_capturable_computes_what_the_default_path_does():
    """With the guards on, a NaN loss and validation losses that turn up, LRs, features and weights match
    each step."""
    steps = 30
    runs = [_wrapped(c, steps) for c in (False, True)]
    seen = []
    for step in range(steps):
        for model, opt in runs:
            loss = loss_at(model, step)
            loss.backward()
            opt.step(loss=torch.tensor(float("nan")) if step == 9 else loss)   # a NaN loss leaves the LR finite
            opt.zero_grad()
            if step % 5 == 4:
                opt.observe(val_loss=loss_at(model, 1000 + step).detach() * (1.0 + 0.2 * (step > 15)))
        (m0, o0), (m1, o1) = runs
        torch.testing.assert_close(o1.multipliers(), o0.multipliers(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(o1.last_features, o0.last_features, rtol=1e-6, atol=1e-7)
        for a, b in zip(m1.parameters(), m0.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        seen.append(o0.multipliers()[0].item())
    assert o1.steps_taken == o0.steps_taken == steps
    assert len(set(seen)) > 20, "the multiplier should move"
    assert torch.isfinite(o1.multipliers()).all()
    assert o0.last_features[0, -1] > 0, "val_vs_best should be read"


def test_capturable_state_keeps_its_tensors():
    """A captured graph reads the tensors it saw at capture: every step must write into the same ones."""
    model, opt = _wrapped(True, 50)
    for step in range(3):   # the first steps create the kept update sample and the last features
        loss_at(model, step).backward()
        opt.step(loss=loss_at(model, step).detach())
        opt.zero_grad()
    before = [t.data_ptr() for t in _state_tensors(opt)]
    mults = opt.multipliers().clone()
    for step in range(3, 8):
        loss_at(model, step).backward()
        opt.step(loss=loss_at(model, step).detach())
        opt.zero_grad()
        opt.observe(val_loss=2.0)
    assert [t.data_ptr() for t in _state_tensors(opt)] == before
    assert not torch.equal(opt.multipliers(), mults), "the state should have changed, in place"
    assert opt.steps_taken == 8 and "capturable=True" in repr(opt)


@pytest.mark.parametrize("kwargs, field", [
    (dict(every=2), "every=2"),
    (dict(skip_nonfinite=True), "skip_nonfinite"),
])
def test_capturable_refuses_what_a_graph_cannot_replay(kwargs, field):
    model = make_model()
    with pytest.raises(ValueError, match=field):
        LROptimizerWrapper(torch.optim.AdamW(_tensor_lr_groups(model)), capturable=True, **kwargs)


def test_capturable_needs_tensor_lrs_and_names_the_group():
    model = make_model()
    groups = _tensor_lr_groups(model)
    groups[1]["lr"] = 3e-3
    with pytest.raises(ValueError, match="group 1 has lr=0.003"):
        LROptimizerWrapper(torch.optim.AdamW(groups), capturable=True)
    opt = LROptimizerWrapper(torch.optim.AdamW(_tensor_lr_groups(model)[:1]), capturable=True)
    with pytest.raises(ValueError, match="new group has lr=0.003"):
        opt.add_param_group({"params": list(model[2].parameters()), "lr": 3e-3})
    assert len(opt.param_groups) == 1, "a refused group is not added"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_replayed_cuda_graph_matches_eager_steps():
    """Capture ``step(loss=static_loss)`` once, replay it on new gradients and losses, with validation losses
    observed eagerly between replays that turn up (so the overfitting guard acts inside the replayed step):
    the same LRs and weights as a twin stepped eagerly (fused capturable AdamW, tensor LRs)."""
    steps, warmup = 20, 3

    def make(capturable):
        model = make_model().cuda()
        base = torch.optim.AdamW(_tensor_lr_groups(model, "cuda"), fused=True, capturable=True)
        ctrl = active_controller(start_log_mult=-1.2, overfit_guard=0.03)
        return model, LROptimizerWrapper(base, controller=ctrl,
                                         total_steps=steps, capturable=capturable)

    (m_e, o_e), (m_g, o_g) = make(False), make(True)
    static_loss = torch.zeros((), device="cuda")

    def grads(model, step):
        x, y = (t.cuda() for t in batch(step))
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss.detach()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):          # warm-up steps, eager on both, as torch's graph docs ask
        for step in range(warmup):
            for model, opt in ((m_e, o_e), (m_g, o_g)):
                opt.zero_grad(set_to_none=False)
                static_loss.copy_(grads(model, step))
                opt.step(loss=static_loss)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    o_g.zero_grad(set_to_none=False)
    static_loss.copy_(grads(m_g, warmup))
    with torch.cuda.graph(graph):
        o_g.step(loss=static_loss)
    o_e.zero_grad(set_to_none=False)
    o_e.step(loss=grads(m_e, warmup))
    graph.replay()                          # capture does not run the step: replay it once for step `warmup`
    seen = []
    for step in range(warmup + 1, steps):
        o_e.zero_grad(set_to_none=False)
        o_e.step(loss=grads(m_e, step))
        o_g.zero_grad(set_to_none=False)
        static_loss.copy_(grads(m_g, step))
        graph.replay()
        if step % 4 == 0:                   # between replays, eagerly: 1.0, 1.0, then 20% above the best
            val = torch.tensor(1.0 if step < 12 else 1.2, device="cuda")
            o_e.observe(val_loss=val)
            o_g.observe(val_loss=val)
        torch.testing.assert_close(o_g.multipliers(), o_e.multipliers(), rtol=1e-5, atol=1e-6)
        for a, b in zip(m_g.parameters(), m_e.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        seen.append(o_e.multipliers()[0].item())
    assert o_g.steps_taken == steps
    assert len(set(seen)) > 10, "the multiplier should move"


def test_logging_after_graph_replays_uses_the_device_step_count(tmp_path):
    """Replays advance only the device count; an eager step logged after them must carry the true step."""
    from lropt.logging import read_scalars

    model = make_model()
    opt = LROptimizerWrapper(torch.optim.AdamW(_tensor_lr_groups(model)), controller=active_controller(),
                             capturable=True, log_dir=tmp_path / "run", log_every=5)

    def eager_steps(start, n):
        for step in range(start, start + n):
            loss_at(model, step).backward()
            opt.step(loss=loss_at(model, step).detach())
            opt.zero_grad()

    eager_steps(0, 3)
    opt._tick_t.add_(4)                     # what four replays of a captured step leave behind
    eager_steps(3, 3)                       # steps 8, 9 and 10
    opt.close()
    assert [s for s, _ in read_scalars(tmp_path / "run")["lropt/lr/pg0"]] == [10]
    assert opt.steps_taken == 10


def test_the_device_step_count_goes_past_float32_precision():
    """A float32 counter stops at 2**24 steps; the count (and the progress read from it) must not."""
    model, opt = _wrapped(True, 2**25)
    state = opt.state_dict()
    state["lropt"]["ticks"] = 2**24
    opt.load_state_dict(state)
    for step in range(3):
        loss_at(model, step).backward()
        opt.step(loss=loss_at(model, step).detach())
        opt.zero_grad()
    assert opt.steps_taken == 2**24 + 3 == opt.state_dict()["lropt"]["ticks"]
    assert opt._progress().item() == pytest.approx((2**24 + 3) / 2**25, rel=1e-7)


def test_lr_tensor_on_another_device_is_refused():
    params = [torch.nn.Parameter(torch.zeros(3, device="meta"))]
    base = torch.optim.AdamW([{"params": params, "lr": torch.tensor(1e-3)}])
    with pytest.raises(ValueError, match="group 0's lr is on cpu, its parameters on meta"):
        LROptimizerWrapper(base, capturable=True)


def test_capturing_the_first_step_warns(monkeypatch):
    """Before any eager step there is no update sample: a graph captured then would read grad_align as 0."""
    import lropt.wrapper as wrapper_module

    model, opt = _wrapped(True, 50)
    monkeypatch.setattr(wrapper_module, "_capturing", lambda: True)
    loss_at(model, 0).backward()
    with pytest.warns(UserWarning, match="capturing the wrapper's first step"):
        opt.step(loss=loss_at(model, 0).detach())
    model2, opt2 = _wrapped(True, 50)
    monkeypatch.setattr(wrapper_module, "_capturing", lambda: False)
    loss_at(model2, 0).backward()
    opt2.step(loss=loss_at(model2, 0).detach())         # one eager step first: no warning when capturing next
    monkeypatch.setattr(wrapper_module, "_capturing", lambda: True)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt2.step(loss=loss_at(model2, 1).detach())


def test_a_new_group_with_its_lr_on_another_device_is_refused_and_not_added():
    params = [torch.nn.Parameter(torch.zeros(3, device="meta"))]
    model = make_model()
    opt = LROptimizerWrapper(torch.optim.AdamW(_tensor_lr_groups(model)[:1]), capturable=True)
    with pytest.raises(ValueError, match="the new group's lr is on cpu, its parameters on meta"):
        opt.add_param_group({"params": params, "lr": torch.tensor(1e-3)})
    assert len(opt.param_groups) == 1

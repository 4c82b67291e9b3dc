"""torch.compile: a compiled model and a compiled base-optimizer step train under the wrapper
without recompiling when the controller changes the LR (tensor LR); the wrapper's own
``compile=True`` computes what eager does."""
import copy
import warnings

import pytest
import torch
import torch._dynamo

from lropt import LROptimizerWrapper
from lropt import wrapper as wrapper_module
from common import active_controller


def test_compiled_model_and_step_do_not_recompile_on_lr_changes():
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    compiled = torch.compile(model, backend="aot_eager")
    base = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-2), foreach=False)
    base.step = torch.compile(base.step, backend="eager")
    opt = LROptimizerWrapper(base, controller=active_controller())
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    lrs = []
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(12):
            loss = ((compiled(x) - y) ** 2).mean()
            loss.backward()
            opt.step(loss=loss)
            opt.zero_grad()
            lrs.append(opt.get_last_lr()[0])
    assert len(set(lrs)) > 5, "the controller should have changed the LR"


def _run(compile_: bool, steps: int = 24, groups: int = 2):
    """An active controller that reads every feature (val_vs_best included), with a missing loss, a NaN
    loss and validation losses that turn up on the way."""
    from common import loss_at, make_model, two_groups

    model = make_model()
    params = two_groups(model) if groups == 2 else [{"params": [p], "lr": 1e-2} for p in model.parameters()][:groups]
    ctrl = active_controller(guard_loss_ratio=1.5, start_log_mult=-1.2)
    opt = LROptimizerWrapper(torch.optim.AdamW(params), controller=ctrl, total_steps=steps, compile=compile_)
    mults, feats = [], []
    for step in range(steps):
        loss = loss_at(model, step)
        loss.backward()
        given = {5: None, 9: torch.tensor(float("nan"))}.get(step, loss)
        opt.step(loss=given)
        opt.zero_grad()
        if step % 4 == 3:
            opt.observe(val_loss=loss_at(model, 1000 + step).detach() * (1.0 + 0.1 * (step > 12)))
        mults.append(opt.multipliers().clone())
        feats.append(opt.last_features.clone())
    return torch.stack(mults), torch.stack(feats), [p.detach().clone() for p in model.parameters()], opt


def test_compile_true_computes_what_eager_does():
    """The compiled feature+controller call against the eager one, step by step."""
    torch._dynamo.reset()
    eager_m, eager_f, eager_p, _ = _run(False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="lropt: compile=True failed")   # no fallback to eager
        comp_m, comp_f, comp_p, opt = _run(True)
    assert opt._control_fn not in (None, wrapper_module._features_and_control)   # compiled, no fallback
    torch.testing.assert_close(comp_f, eager_f, rtol=1e-5, atol=1e-6)
    assert eager_f[-1, 0, -1] > 0, "val_vs_best should be read"
    torch.testing.assert_close(comp_m, eager_m, rtol=1e-5, atol=1e-6)
    assert len(set(eager_m[:, 0].tolist())) > 10, "the multiplier should move"
    for a, b in zip(comp_p, eager_p):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    clone = copy.deepcopy(opt)              # a compiled function is not state: copies rebuild it
    assert clone._control_fn is None and clone.compile and "compile=True" in repr(clone)


def test_compiled_wrappers_of_many_group_counts_stay_compiled():
    """All wrappers share torch's cache of the one function: new group counts must not use up its
    recompile limit (8) and send later wrappers to eager. Six counts, with and without a loss."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(3)])   # six parameter tensors
    x = torch.randn(8, 4)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="lropt: compile=True failed")
        for groups in range(1, 7):
            params = list(model.parameters())
            opt = LROptimizerWrapper(torch.optim.AdamW([{"params": params[i::groups]} for i in range(groups)]),
                                     controller=active_controller(), compile=True)
            for step in range(3):
                loss = model(x).pow(2).mean()
                loss.backward()
                opt.step(loss=loss if step != 1 else None)
                opt.zero_grad()
            assert opt._control_fn is not wrapper_module._features_and_control


def _broken(where: str):
    def compile_(fn, **kwargs):
        if where == "build":
            raise RuntimeError("torch.compile is not supported on this Python")

        def call(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return call
    return compile_


@pytest.mark.parametrize("where, message", [("call", "no C\\+\\+ compiler"), ("build", "not supported")])
def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch, where, message):
    monkeypatch.setattr(torch, "compile", _broken(where))
    eager_m, _, _, _ = _run(False, steps=8)
    with pytest.warns(UserWarning, match=f"compile=True failed .*{message}.*running eager"):
        comp_m, _, _, _ = _run(True, steps=8)
    assert torch.equal(comp_m, eager_m)


def test_a_real_error_is_raised_as_it_is_not_blamed_on_the_compiler(monkeypatch):
    """An error that eager raises too (here: a broken controller) is not a compile failure."""
    from common import loss_at, make_model

    model = make_model()
    opt = LROptimizerWrapper(torch.optim.AdamW(model.parameters()), controller=active_controller(), compile=True)
    monkeypatch.setattr(opt.controller, "forward", lambda *a, **k: (_ for _ in ()).throw(ValueError("broken")))
    loss = loss_at(model, 0)
    loss.backward()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="lropt: compile=True failed")
        with pytest.raises(ValueError, match="broken"):
            opt.step(loss=loss)

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


def _run(compile_: bool, steps: int = 24):
    """The shipped default on two groups, with a missing loss, a NaN loss and validation losses on the way."""
    from common import loss_at, make_model, two_groups

    model = make_model()
    opt = LROptimizerWrapper(torch.optim.AdamW(two_groups(model)), controller="default", total_steps=steps,
                             compile=compile_)
    mults = []
    for step in range(steps):
        loss = loss_at(model, step)
        loss.backward()
        given = {5: None, 9: torch.tensor(float("nan"))}.get(step, loss)
        opt.step(loss=given)
        opt.zero_grad()
        if step % 4 == 3:
            opt.observe(val_loss=loss_at(model, 1000 + step).detach() * (1.0 + 0.1 * (step > 12)))
        mults.append(opt.multipliers().clone())
    return torch.stack(mults), [p.detach().clone() for p in model.parameters()], opt


def test_compile_true_computes_what_eager_does():
    """The compiled feature+controller call against the eager one, step by step."""
    torch._dynamo.reset()
    eager_m, eager_p, _ = _run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a compile failure would fall back to eager with a warning
        comp_m, comp_p, opt = _run(True)
    assert opt._control_fn not in (None, wrapper_module._features_and_control)   # compiled, no fallback
    torch.testing.assert_close(comp_m, eager_m, rtol=1e-5, atol=1e-6)
    assert len(set(eager_m[:, 0].tolist())) > 10, "the multiplier should move"
    for a, b in zip(comp_p, eager_p):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    clone = copy.deepcopy(opt)              # a compiled function is not state: copies rebuild it
    assert clone._control_fn is None and clone.compile and "compile=True" in repr(clone)


def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch):
    def broken(fn, **kwargs):
        def call(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    eager_m, _, _ = _run(False, steps=8)
    with pytest.warns(UserWarning, match="compile=True failed .*no C\\+\\+ compiler.*running eager"):
        comp_m, _, _ = _run(True, steps=8)
    assert torch.equal(comp_m, eager_m)

"""torch.compile: a compiled model and a compiled base-optimizer step train under the wrapper
without recompiling when the controller changes the LR (tensor LR)."""
import torch
import torch._dynamo

from lropt import LROptimizerWrapper
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

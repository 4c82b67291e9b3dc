"""Shared helpers for the tests: a small model, two parameter groups, batches, an active controller, a tiny
meta-training recipe."""
import torch

from lropt import LRController


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def two_groups(model):
    """Two parameter groups with different LRs (per-group multipliers are the point)."""
    return [
        {"params": list(model[0].parameters()), "lr": 1e-2},
        {"params": list(model[2].parameters()), "lr": 3e-3},
    ]


def batch(step: int):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(32, 6, generator=g)
    y = torch.randn(32, 3, generator=g)
    return x, y


def loss_at(model, step: int):
    x, y = batch(step)
    return ((model(x) - y) ** 2).mean()


def active_controller(seed: int = 0, **kwargs) -> LRController:
    """A controller whose head is not zero, so it really moves the LR."""
    torch.manual_seed(seed)
    ctrl = LRController(**kwargs)
    with torch.no_grad():
        ctrl.head.weight.normal_(0.0, 2.0)
        ctrl.head.bias.fill_(0.3)
    return ctrl


#: ``--set`` overrides that shrink the embedded recipe to a meta-training run of a few seconds.
TINY_META = ['tasks.train=["quadratic"]', 'tasks.validation=["logistic_regression"]', "tasks.validation_count=1",
             "inner.horizon_min=20", "inner.horizon_max=30", "inner.truncation_min=5", "inner.truncation_max=6",
             "inner.runs_per_group=2", "inner.groups=1", "outer.eval_every=100", "outer.checkpoint_every=1",
             "outer.eval_horizon=10"]

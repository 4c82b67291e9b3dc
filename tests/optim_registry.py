"""The optimizers every wrapper contract test runs against (torch's OptimizerInfo idea)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class OptimizerInfo:
    name: str
    cls: type
    kwargs: dict = field(default_factory=dict)
    tensor_lr: bool = False   # build with lr as a tensor

    def make(self, groups: list[dict]):
        """Build the optimizer over ``groups`` (dicts with "params" and a float "lr")."""
        if self.tensor_lr:
            groups = [dict(g, lr=torch.tensor(g["lr"])) for g in groups]
        return self.cls(groups, **self.kwargs)

    def __str__(self) -> str:
        return self.name


def _variants(name: str, cls: type, base: dict, impls=("foreach", "forloop"), lr_tensor=False) -> list[OptimizerInfo]:
    out = []
    for impl in impls:
        kw = dict(base)
        if impl == "foreach":
            kw["foreach"] = True
        elif impl == "forloop":
            kw["foreach"] = False
        elif impl == "fused":
            kw["fused"] = True
        out.append(OptimizerInfo(f"{name}-{impl}", cls, kw))
    if lr_tensor:
        out.append(OptimizerInfo(f"{name}-tensorlr", cls, dict(base, foreach=False), tensor_lr=True))
    return out


OPTIMIZERS: list[OptimizerInfo] = [
    *_variants("sgd", torch.optim.SGD, {}),
    *_variants("sgd-momentum", torch.optim.SGD, {"momentum": 0.9, "weight_decay": 1e-4}, impls=("foreach", "forloop", "fused")),
    *_variants("sgd-nesterov", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}, lr_tensor=True),
    *_variants("adam", torch.optim.Adam, {}, impls=("foreach", "forloop", "fused"), lr_tensor=True),
    *_variants("adamw", torch.optim.AdamW, {"weight_decay": 0.01}, impls=("foreach", "forloop", "fused"), lr_tensor=True),
    *_variants("rmsprop", torch.optim.RMSprop, {"momentum": 0.5}),
    *_variants("adagrad", torch.optim.Adagrad, {}),
    *_variants("nadam", torch.optim.NAdam, {}),
]

ALL_IDS = [o.name for o in OPTIMIZERS]
TENSOR_LR = [o for o in OPTIMIZERS if o.tensor_lr]

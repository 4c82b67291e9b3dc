"""The functional inner optimisers match torch.optim, are pure, differentiable in lr, and vmappable."""
import math

import pytest
import torch
from torch.func import functional_call, vmap

from lropt.meta.inner_optim import (
    INNER_OPTIMIZERS,
    inner_optimizer,
    inner_optimizer_like,
)

DTYPE = torch.float64
STEPS = 100

TORCH_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}

# (name, hyperparameters): each is run against torch.optim with foreach False and True.
SETTINGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2}),
    ("sgd", {"momentum": 0.8, "nesterov": True, "weight_decay": 5e-3}),
    ("adam", {}),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"betas": (0.5, 0.9), "eps": 1e-4, "weight_decay": 0.3}),
]
BASE_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3}


def make_mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 12), torch.nn.Tanh(), torch.nn.Linear(12, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3)
    ).to(DTYPE)


def batch(step: int, seed: int = 0):
    g = torch.Generator().manual_seed(10_000 * seed + step)
    x = torch.randn(16, 5, generator=g, dtype=DTYPE)
    y = torch.randint(0, 3, (16,), generator=g)
    return x, y


def lr_at(base: float, step: int) -> float:
    """A learning rate that changes every step (the controller's job)."""
    return base * (1.0 + 0.5 * math.sin(0.3 * step))


def loss_of(model, params, x, y):
    return torch.nn.functional.cross_entropy(functional_call(model, params, (x,)), y)


def params_of(model) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def run_torch(name, hyper, foreach, steps=STEPS):
    model = make_mlp()
    opt = TORCH_CLASSES[name](model.parameters(), lr=BASE_LR[name], foreach=foreach, **hyper)
    for t in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(BASE_LR[name], t)
        x, y = batch(t)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return params_of(model)


def run_functional(name, hyper, steps=STEPS):
    model = make_mlp()
    opt = inner_optimizer(name, **hyper)
    params = params_of(model)
    state = opt.init(params)
    for t in range(steps):
        x, y = batch(t)
        grads = torch.func.grad(lambda p: loss_of(model, p, x, y))(params)
        params, state = opt.step(params, grads, state, lr_at(BASE_LR[name], t))
    return params, state


@pytest.mark.parametrize("foreach", [False, True], ids=["for-loop", "foreach"])
@pytest.mark.parametrize("name,hyper", SETTINGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SETTINGS)])
def test_matches_torch_optim_for_100_steps(name, hyper, foreach):
    expected = run_torch(name, hyper, foreach)
    got, state = run_functional(name, hyper)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-9, atol=1e-11, msg=f"{name} {key}")
    assert float(state["step"]) == STEPS


def test_tensor_lr_equals_float_lr():
    model = make_mlp()
    params = params_of(model)
    x, y = batch(0)
    grads = torch.func.grad(lambda p: loss_of(model, p, x, y))(params)
    opt = inner_optimizer("adamw")
    a, _ = opt.step(params, grads, opt.init(params), 1e-3)
    b, _ = opt.step(params, grads, opt.init(params), torch.tensor(1e-3, dtype=DTYPE))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_per_parameter_lr_mapping():
    model = make_mlp()
    params = params_of(model)
    x, y = batch(0)
    grads = torch.func.grad(lambda p: loss_of(model, p, x, y))(params)
    opt = inner_optimizer("sgd", momentum=0.9)
    lrs = {k: 0.1 * (i + 1) for i, k in enumerate(params)}
    new, _ = opt.step(params, grads, opt.init(params), lrs)
    for key in params:
        torch.testing.assert_close(new[key], params[key] - lrs[key] * grads[key])
    with pytest.raises(ValueError, match="no entry for parameter"):
        opt.step(params, grads, opt.init(params), {"0.weight": 0.1})


@pytest.mark.parametrize("name", INNER_OPTIMIZERS)
def test_step_is_pure(name):
    """Inputs are neither modified nor have their version counters bumped."""
    model = make_mlp()
    params = params_of(model)
    opt = inner_optimizer(name, weight_decay=0.1, **({"momentum": 0.9} if name == "sgd" else {}))
    state = opt.init(params)
    for t in range(2):
        x, y = batch(t)
        grads = torch.func.grad(lambda p: loss_of(model, p, x, y))(params)
        before = [(t_, t_.clone(), t_._version) for t_ in _tensors((params, grads, state))]
        params, state = opt.step(params, grads, state, 0.01)
        for tensor, copy, version in before:
            assert tensor._version == version
            torch.testing.assert_close(tensor, copy, rtol=0, atol=0)


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, dict):
        for v in tree.values():
            yield from _tensors(v)
    elif isinstance(tree, (tuple, list)):
        for v in tree:
            yield from _tensors(v)


def meta_loss(name, hyper, log_lr: torch.Tensor, steps=12, create_graph=True):
    """Validation loss after ``steps`` inner steps at LR ``exp(log_lr)``; differentiable in ``log_lr``."""
    model = make_mlp()
    opt = inner_optimizer(name, **hyper)
    params = {k: v.requires_grad_(True) for k, v in params_of(model).items()}
    state = opt.init(params)
    lr = log_lr.exp()
    for t in range(steps):
        x, y = batch(t)
        loss = loss_of(model, params, x, y)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)))
        params, state = opt.step(params, grads, state, lr * (1.0 + 0.1 * t))
    x, y = batch(999, seed=1)
    return loss_of(model, params, x, y)


@pytest.mark.parametrize("name,hyper", [
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("adam", {"weight_decay": 1e-2}),
    ("adamw", {"weight_decay": 0.1}),
])
def test_meta_gradient_matches_finite_difference(name, hyper):
    log_lr = torch.tensor(math.log(BASE_LR[name]), dtype=DTYPE, requires_grad=True)
    (grad,) = torch.autograd.grad(meta_loss(name, hyper, log_lr), log_lr)
    h = 1e-5
    up = meta_loss(name, hyper, log_lr.detach() + h, create_graph=False).detach()
    down = meta_loss(name, hyper, log_lr.detach() - h, create_graph=False).detach()
    fd = (up - down) / (2 * h)
    assert abs(float(fd)) > 1e-4, "the meta-loss should depend on the LR"
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-9)


def test_first_order_meta_gradient_flows_from_lr_only():
    """With detached gradients the meta-gradient still reaches the LR (truncated BPTT, first order)."""
    log_lr = torch.tensor(math.log(3e-3), dtype=DTYPE, requires_grad=True)
    (grad,) = torch.autograd.grad(meta_loss("adam", {}, log_lr, create_graph=False), log_lr)
    assert torch.isfinite(grad) and grad != 0


def test_second_order_gradient_is_finite_with_always_zero_gradient_entries():
    """A parameter whose gradient is exactly zero keeps Adam's sqrt(v) at 0: no NaN meta-gradient."""
    w = torch.tensor([1.0, 2.0], dtype=DTYPE, requires_grad=True)
    lr = torch.tensor(0.1, dtype=DTYPE, requires_grad=True)
    opt = inner_optimizer("adam")
    params, state = {"w": w}, opt.init({"w": w})
    for _ in range(3):
        loss = (params["w"][0] - 3.0) ** 2          # w[1] never gets a gradient
        (g,) = torch.autograd.grad(loss, [params["w"]], create_graph=True)
        params, state = opt.step(params, {"w": g}, state, lr)
    (dlr,) = torch.autograd.grad((params["w"][0] - 3.0) ** 2, lr)
    assert torch.isfinite(dlr)


def _stacked_problem(n: int):
    """``n`` independent MLP copies (different inits and data), stacked for vmap."""
    models = [make_mlp(seed) for seed in range(n)]
    params = [params_of(m) for m in models]
    stacked = {k: torch.stack([p[k] for p in params]) for k in params[0]}
    return models[0], params, stacked


@pytest.mark.parametrize("name", INNER_OPTIMIZERS)
@pytest.mark.parametrize("batched_lr", [False, True], ids=["shared-lr", "batched-lr"])
def test_vmap_equals_loop(name, batched_lr):
    n, steps = 3, 5
    hyper = {"weight_decay": 0.05, **({"momentum": 0.9, "dampening": 0.1} if name == "sgd" else {})}
    opt = inner_optimizer(name, **hyper)
    model, params_list, stacked = _stacked_problem(n)
    lrs = torch.tensor([0.01, 0.02, 0.03], dtype=DTYPE)

    def grads_of(p, x, y):
        return torch.func.grad(lambda q: loss_of(model, q, x, y))(p)

    # loop
    looped = []
    for i, p in enumerate(params_list):
        state = opt.init(p)
        for t in range(steps):
            x, y = batch(t, seed=i)
            lr = lrs[i] if batched_lr else lrs[0]
            p, state = opt.step(p, grads_of(p, x, y), state, lr)
        looped.append(p)

    # vmap: init, gradient and step all batched over the copies
    state = vmap(opt.init)(stacked)
    p = stacked
    for t in range(steps):
        xs, ys = zip(*(batch(t, seed=i) for i in range(n)))
        grads = vmap(grads_of)(p, torch.stack(xs), torch.stack(ys))
        if batched_lr:
            p, state = vmap(opt.step)(p, grads, state, lrs)
        else:
            p, state = vmap(opt.step, in_dims=(0, 0, 0, None))(p, grads, state, lrs[0])
    for i in range(n):
        for key in p:
            torch.testing.assert_close(p[key][i], looped[i][key], rtol=1e-12, atol=1e-14)
    assert state["step"].shape == (n,)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_vmap_meta_gradient_reaches_shared_lr(device):
    opt = inner_optimizer("adamw")
    model, _, stacked = _stacked_problem(2)
    model = model.to(device)
    stacked = {k: v.to(device) for k, v in stacked.items()}
    lr = torch.tensor(1e-2, dtype=DTYPE, device=device, requires_grad=True)
    xs, ys = zip(*(batch(0, seed=i) for i in range(2)))
    xs, ys = torch.stack(xs).to(device), torch.stack(ys).to(device)

    def one(p, x, y, lr):
        state = opt.init(p)
        for _ in range(3):
            g = torch.func.grad(lambda q: loss_of(model, q, x, y))(p)
            p, state = opt.step(p, g, state, lr)
        return loss_of(model, p, x, y)

    losses = vmap(one, in_dims=(0, 0, 0, None))(stacked, xs, ys, lr)
    (dlr,) = torch.autograd.grad(losses.sum(), lr)
    assert torch.isfinite(dlr) and dlr < 0   # a larger LR lowers the loss at this tiny LR


@CUDA
def test_cuda_matches_cpu():
    model = make_mlp()
    gpu_model = make_mlp().cuda()
    opt = inner_optimizer("adamw", weight_decay=0.1)
    cpu = params_of(model)
    gpu = {k: v.cuda() for k, v in cpu.items()}
    s_cpu, s_gpu = opt.init(cpu), opt.init(gpu)
    assert s_gpu["step"].is_cuda
    lr = torch.tensor(1e-2, dtype=DTYPE, device="cuda", requires_grad=True)
    for t in range(5):
        x, y = batch(t)
        g_cpu = torch.func.grad(lambda p: loss_of(model, p, x, y))(cpu)
        cpu, s_cpu = opt.step(cpu, g_cpu, s_cpu, 1e-2)
        g_gpu = torch.func.grad(lambda p: loss_of(gpu_model, p, x.cuda(), y.cuda()))(gpu)
        gpu, s_gpu = opt.step(gpu, {k: v.detach() for k, v in g_gpu.items()}, s_gpu, lr)
    for key in cpu:
        torch.testing.assert_close(gpu[key].detach().cpu(), cpu[key], rtol=1e-9, atol=1e-11)
    (dlr,) = torch.autograd.grad(sum(v.sum() for v in gpu.values()), lr)
    assert torch.isfinite(dlr)


# ------------------------------------------------------------------ construction and errors


@pytest.mark.parametrize("name,hyper", SETTINGS)
def test_like_torch_optimizer_round_trips(name, hyper):
    torch_opt = TORCH_CLASSES[name](make_mlp().parameters(), lr=0.1, **hyper)
    twin = inner_optimizer_like(torch_opt)
    assert twin == inner_optimizer(name, **hyper)
    assert twin.name == name


def test_adamw_default_weight_decay_is_torchs():
    assert inner_optimizer("adamw").hyperparams["weight_decay"] == 0.01
    assert inner_optimizer("adam").hyperparams["weight_decay"] == 0.0


def test_repr_rebuilds():
    opt = inner_optimizer("sgd", momentum=0.9, nesterov=True)
    assert eval(repr(opt), {"inner_optimizer": inner_optimizer}) == opt


def test_unknown_name_suggests_close_match():
    with pytest.raises(ValueError, match="did you mean 'adamw'"):
        inner_optimizer("adamww")
    with pytest.raises(ValueError, match="did you mean 'momentum'"):
        inner_optimizer("sgd", momentun=0.9)
    with pytest.raises(ValueError, match="sgd hyperparameter 'betas'"):
        inner_optimizer("sgd", betas=(0.9, 0.99))


@pytest.mark.parametrize("name,hyper,field", [
    ("sgd", {"momentum": -0.1}, "momentum"),
    ("sgd", {"dampening": 1.5}, "dampening"),
    ("sgd", {"weight_decay": -1.0}, "weight_decay"),
    ("sgd", {"nesterov": True}, "nesterov"),
    ("adam", {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    ("adam", {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    ("adam", {"betas": (0.9,)}, "betas"),
    ("adamw", {"eps": -1e-8}, "eps"),
])
def test_bad_hyperparameters_name_the_field(name, hyper, field):
    with pytest.raises(ValueError, match=field):
        inner_optimizer(name, **hyper)


def test_refuses_unsupported_torch_flags_and_mismatched_grads():
    with pytest.raises(ValueError, match="amsgrad"):
        inner_optimizer_like(torch.optim.Adam(make_mlp().parameters(), amsgrad=True))
    with pytest.raises(ValueError, match="no functional twin"):
        inner_optimizer_like(torch.optim.RMSprop(make_mlp().parameters()))
    opt = inner_optimizer("sgd")
    params = params_of(make_mlp())
    with pytest.raises(ValueError, match="missing"):
        opt.step(params, {}, opt.init(params), 0.1)
    with pytest.raises(ValueError, match="empty"):
        opt.init({})

"""Baseline schedules and methods by name: LR values, training sanity, hooks, hypergradient."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lropt.hypergradient import HDAdam, HDSGD
from lropt.schedules import (
    METHODS,
    SCHEDULES,
    effective_lrs,
    make_method,
    make_schedule,
)

T = 100
BASES = (0.1, 0.03)  # two param groups with different LRs: every shape must scale each group


def two_group_sgd():
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    return torch.optim.SGD([{"params": [a], "lr": BASES[0]}, {"params": [b], "lr": BASES[1]}], lr=BASES[0])


def lr_trajectory(name, steps=T, val_losses=None, **overrides):
    """get_last_lr() before each of ``steps`` training steps (the LR each step uses)."""
    opt = two_group_sgd()
    schedule = make_schedule(name, opt, T, **overrides)
    out = []
    for s in range(steps):
        out.append(schedule.get_last_lr())
        opt.step()
        schedule.step(None if val_losses is None else val_losses[s])
    return out


# Hand computations of LR / base LR at step s (T = 100), independent of lropt's code.
def triangle(s, low=0.1, cycles=4):
    half = T / (2 * cycles)
    phase = (s / half) % 2
    up = phase if phase <= 1 else 2 - phase
    return low + (1 - low) * up


def onecycle(s, pct=0.3, div=25.0, final_div=1e4):
    peak = pct * T - 1
    start, end = 1 / div, 1 / div / final_div
    if s <= peak:
        return 1 + (start - 1) / 2 * (1 + math.cos(math.pi * s / peak))
    return end + (1 - end) / 2 * (1 + math.cos(math.pi * (s - peak) / (T - 1 - peak)))


HAND = {
    "constant": lambda s: 1.0,
    "step": lambda s: 1.0 if s < 50 else 0.1 if s < 75 else 0.01,
    "exponential": lambda s: 0.01 ** (s / T),
    "cyclic": triangle,
    "cosine": lambda s: 0.5 * (1 + math.cos(math.pi * s / T)),
    "onecycle": onecycle,
    # warmup 5 steps: 1/6 .. 5/6, then cosine over the remaining 95 steps
    "warmup_cosine": lambda s: (s + 1) / 6 if s < 5 else 0.5 * (1 + math.cos(math.pi * (s - 5) / 95)),
    # warmup 10 steps, stable to step 80, linear decay to 0 at step 100
    "wsd": lambda s: (s + 1) / 11 if s < 10 else 1.0 if s < 80 else 1 - (s - 80) / 20,
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_lr_matches_hand_computation(name):
    got = lr_trajectory(name)
    for s in (0, 1, 4, 5, 6, 10, 12, 25, 29, 30, 49, 50, 55, 74, 75, 80, 90, 99):
        expected = [base * HAND[name](s) for base in BASES]
        assert got[s] == pytest.approx(expected, rel=1e-9, abs=1e-15), f"{name} at step {s}"


@pytest.mark.parametrize("name,torch_scheduler", [
    ("step", lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [50, 75], 0.1)),
    ("exponential", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.01 ** (1 / T))),
    ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T)),
    ("onecycle", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, list(BASES), total_steps=T, cycle_momentum=False)),
    ("cyclic", lambda o: torch.optim.lr_scheduler.CyclicLR(
        o, [b / 10 for b in BASES], list(BASES), step_size_up=T / 8, cycle_momentum=False)),
])
def test_lr_equals_the_underlying_torch_scheduler(name, torch_scheduler):
    opt = two_group_sgd()
    reference = torch_scheduler(opt)
    expected = []
    for _ in range(T):
        expected.append(reference.get_last_lr())
        opt.step()
        reference.step()
    for got, want in zip(lr_trajectory(name), expected):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize("name", [n for n in SCHEDULES if n != "plateau"])
def test_lr_holds_after_total_steps(name):
    lrs = lr_trajectory(name, steps=2 * T)   # onecycle would raise past total_steps; cosine would climb back
    assert all(lr == lrs[T - 1] for lr in lrs[T:])


@settings(max_examples=20, deadline=None)
@given(total=st.integers(min_value=2, max_value=200), base=st.floats(min_value=1e-6, max_value=10.0))
def test_every_schedule_stays_within_zero_and_base(total, base):
    """For any horizon and base LR, every shape stays in [0, base] and is finite."""
    for name in SCHEDULES:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
        schedule = make_schedule(name, opt, total)
        for s in range(total + 3):
            (lr,) = schedule.get_last_lr()
            assert math.isfinite(lr) and 0.0 <= lr <= base * (1 + 1e-12), (name, total, s, lr)
            opt.step()
            schedule.step(1.0)


def test_plateau_reduces_after_patience_steps_without_improvement():
    # improving for 10 steps, then stale: patience is 5% of 100 = 5 steps, so the 6th bad step cuts
    losses = [1.0 - 0.01 * s for s in range(10)] + [0.91] * 30
    lrs = lr_trajectory("plateau", steps=40, val_losses=losses)
    factors = [lr[0] / BASES[0] for lr in lrs]
    assert factors[:16] == pytest.approx([1.0] * 16)   # step 15's cut shows from step 16
    assert factors[16:22] == pytest.approx([0.1] * 6)
    assert factors[22] == pytest.approx(0.01)
    assert lrs[16][1] == pytest.approx(BASES[1] * 0.1)


def test_plateau_waits_for_a_validation_loss():
    lrs = lr_trajectory("plateau", steps=50, val_losses=[None] * 50)
    assert all(lr == list(BASES) for lr in lrs)
    assert make_schedule("plateau", two_group_sgd(), T).needs_val_loss


def test_overrides_change_the_shape():
    lrs = lr_trajectory("step", milestones=(0.2,), gamma=0.5)
    assert lrs[19][0] == pytest.approx(BASES[0]) and lrs[20][0] == pytest.approx(BASES[0] * 0.5)
    lrs = lr_trajectory("wsd", decay_shape="sqrt", warmup_fraction=0.0, final_fraction=0.1)
    assert lrs[0][0] == pytest.approx(BASES[0])
    assert lrs[84][0] == pytest.approx(BASES[0] * (0.1 + 0.9 * (1 - math.sqrt(4 / 20))))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = make_schedule("cosine", opt, T, final_fraction=0.2)   # one group: eta_min is well defined
    for _ in range(50):
        opt.step()
        schedule.step()
    assert schedule.get_last_lr() == [pytest.approx(0.1 * 0.6)]


def test_schedule_state_dict_resumes():
    opt = two_group_sgd()
    a = make_schedule("warmup_cosine", opt, T)
    for _ in range(30):
        opt.step()
        a.step()
    b = make_schedule("warmup_cosine", two_group_sgd(), T)
    b.load_state_dict(a.state_dict())
    assert b.steps_taken == 30 and b.scheduler.last_epoch == a.scheduler.last_epoch
    with pytest.raises(ValueError, match="not 'cosine'"):
        make_schedule("cosine", two_group_sgd(), T).load_state_dict(a.state_dict())


# ------------------------------------------------------------------------------ errors


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ValueError, match="did you mean 'cosine'"):
        make_schedule("cosin", two_group_sgd(), T)
    with pytest.raises(ValueError, match="did you mean 'warmup_fraction'"):
        make_schedule("warmup_cosine", two_group_sgd(), T, warmup_frac=0.1)
    with pytest.raises(ValueError, match="did you mean 'schedulefree'"):
        make_method("schedule_free", [torch.nn.Parameter(torch.zeros(1))], 1e-3, T)
    with pytest.raises(ValueError, match="did you mean 'adamw'"):
        make_method("cosine", [torch.nn.Parameter(torch.zeros(1))], 1e-3, T, optimizer="admw")
    with pytest.raises(ValueError, match="did you mean 'beta'"):
        make_method("hypergradient", [torch.nn.Parameter(torch.zeros(1))], 1e-3, T, betaa=0.1)


@pytest.mark.parametrize("name,overrides,field", [
    ("step", {"gamma": 2.0}, "gamma"),
    ("step", {"milestones": (0.8, 0.2)}, "milestones"),
    ("step", {"milestones": ()}, "milestones"),
    ("exponential", {"final_fraction": 0.0}, "final_fraction"),
    ("cyclic", {"cycles": 0}, "cycles"),
    ("cyclic", {"mode": "exp_range"}, "mode"),
    ("cyclic", {"low_fraction": "x"}, "low_fraction"),
    ("cosine", {"final_fraction": -0.1}, "final_fraction"),
    ("cosine", {"final_fraction": 0.1}, "final_fraction"),      # groups at different LRs
    ("onecycle", {"pct_start": 1.0}, "pct_start"),
    ("warmup_cosine", {"warmup_fraction": float("nan")}, "warmup_fraction"),
    ("wsd", {"warmup_fraction": 0.6, "decay_fraction": 0.6}, "warmup_fraction"),
    ("wsd", {"decay_shape": "cubic"}, "decay_shape"),
    ("plateau", {"factor": 1.0}, "factor"),
])
def test_bad_values_name_the_field(name, overrides, field):
    with pytest.raises(ValueError, match=field):
        make_schedule(name, two_group_sgd(), T, **overrides)


@pytest.mark.parametrize("kwargs,field", [
    ({"total_steps": 0}, "total_steps"),
    ({"total_steps": 10.5}, "total_steps"),
    ({"base_lr": -1.0}, "base_lr"),
    ({"base_lr": float("inf")}, "base_lr"),
])
def test_make_method_checks_its_arguments(kwargs, field):
    args = {"name": "cosine", "params": [torch.nn.Parameter(torch.zeros(1))], "base_lr": 1e-3, "total_steps": T}
    with pytest.raises(ValueError, match=field):
        make_method(**{**args, **kwargs})


def test_optimizer_kwargs_without_counterpart_are_refused():
    params = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match="nesterov"):
        make_method("prodigy", params, 0.1, T, optimizer="sgd", optimizer_kwargs={"nesterov": True})
    with pytest.raises(ValueError, match="momentun"):
        make_method("cosine", params, 0.1, T, optimizer="sgd", optimizer_kwargs={"momentun": 0.5})


# --------------------------------------------------------------------------- methods


def regression(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(128, 4, generator=g)
    y = x @ torch.randn(4, 1, generator=g) + 0.1 * torch.randn(128, 1, generator=g)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    return model, x, y


def train(name, optimizer="adamw", steps=50, base_lr=None):
    model, x, y = regression()
    base_lr = base_lr or {"adamw": 1e-2, "adam": 1e-2, "sgd": 0.05}[optimizer]
    opt, schedule, hooks = make_method(name, model.parameters(), base_lr, steps, optimizer=optimizer)
    val_loss, losses = None, []
    hooks.train()
    for s in range(steps):
        loss = torch.nn.functional.mse_loss(model(x[s % 4 * 32:][:32]), y[s % 4 * 32:][:32])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if s % 10 == 9:
            hooks.eval()
            with torch.no_grad():
                val_loss = torch.nn.functional.mse_loss(model(x), y).item()
            hooks.train()
        schedule.step(val_loss)
    hooks.eval()
    with torch.no_grad():
        final = torch.nn.functional.mse_loss(model(x), y).item()
    return losses, final, schedule


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_every_method_trains_without_nan(name, optimizer):
    losses, final, schedule = train(name, optimizer)
    assert all(math.isfinite(v) for v in losses) and math.isfinite(final)
    assert all(math.isfinite(lr) and lr >= 0 for lr in schedule.get_last_lr())
    assert final < losses[0], f"{name}/{optimizer} did not reduce the loss ({losses[0]:.3g} -> {final:.3g})"


def test_every_method_builds_with_adam():
    for name in METHODS:
        model, _, _ = regression()
        opt, schedule, hooks = make_method(name, model.parameters(), 1e-3, 20, optimizer="adam")
        assert schedule.total_steps == 20


def test_schedulefree_hooks_switch_the_optimizer():
    model, _, _ = regression()
    opt, schedule, hooks = make_method("schedulefree", model.parameters(), 1e-3, T)
    assert type(opt).__name__ == "AdamWScheduleFree"
    assert opt.param_groups[0]["train_mode"]            # returned ready to train
    calls = []
    real_train, real_eval = opt.train, opt.eval
    opt.train = lambda: (calls.append("train"), real_train())
    opt.eval = lambda: (calls.append("eval"), real_eval())
    hooks.eval()
    assert not opt.param_groups[0]["train_mode"]
    hooks.train()
    assert opt.param_groups[0]["train_mode"] and calls == ["eval", "train"]
    assert opt.param_groups[0]["warmup_steps"] == 5 and opt.param_groups[0]["weight_decay"] == 0.01


def test_hooks_are_noops_for_ordinary_methods():
    model, _, _ = regression()
    before = [p.clone() for p in model.parameters()]
    _, _, hooks = make_method("cosine", model.parameters(), 1e-3, T)
    hooks.eval()
    hooks.train()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("optimizer,lr", [("adamw", 1.0), ("adam", 1.0), ("sgd", 1.0)])
def test_prodigy_uses_the_lr_one_convention_with_cosine(optimizer, lr):
    model, _, _ = regression()
    base = {"adamw": 1e-3, "adam": 1e-3, "sgd": 0.1}[optimizer]
    opt, schedule, _ = make_method("prodigy", model.parameters(), base, T, optimizer=optimizer)
    assert type(opt).__name__ == "Prodigy"
    assert opt.param_groups[0]["lr"] == pytest.approx(lr)
    assert opt.param_groups[0]["decouple"] == (optimizer != "adam")
    assert schedule.name == "cosine"
    opt2, _, _ = make_method("prodigy", regression()[0].parameters(), 10 * base, T, optimizer=optimizer)
    assert opt2.param_groups[0]["lr"] == pytest.approx(10 * lr)
    opt3, _, _ = make_method("prodigy", regression()[0].parameters(), base, T, optimizer=optimizer, lr=0.5)
    assert opt3.param_groups[0]["lr"] == 0.5


def test_effective_lr_reports_prodigy_step_size():
    losses, final, schedule = train("prodigy")
    group = schedule.optimizer.param_groups[0]
    assert schedule.get_last_lr()[0] == pytest.approx(group["lr"] * group["d"])


# ---------------------------------------------------------------------- hypergradient


def quadratic_run(opt_factory, steps, curvature=1.0):
    """Minimise 0.5 * c * |w - 1|^2 (exact gradients); return the effective LR history."""
    w = torch.nn.Parameter(torch.zeros(10))
    opt = opt_factory([w])
    history = []
    for _ in range(steps):
        loss = 0.5 * curvature * (w - 1).square().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(opt.effective_lrs()[0])
    return history, float((w.detach() - 1).abs().max())


@pytest.mark.parametrize("factory", [
    lambda p: HDSGD(p, lr=1e-3),
    lambda p: HDSGD(p, lr=1e-3, momentum=0.9),
    lambda p: HDAdam(p, lr=1e-4),
], ids=["sgd", "sgd-momentum", "adam"])
def test_hypergradient_raises_a_too_small_lr(factory):
    history, _ = quadratic_run(factory, 100)
    assert history[-1] > 3 * history[0]


def test_hypergradient_lowers_an_oscillating_lr():
    # SGD at lr 1.9 on curvature 1 oscillates (factor -0.9 per step): consecutive gradients disagree
    history, err = quadratic_run(lambda p: HDSGD(p, lr=1.9), 20)
    assert all(b < a for a, b in zip(history[1:], history[2:]))    # step 1 has no previous direction
    assert history[-1] < 0.75 * 1.9 and err < 1e-3


def test_hypergradient_lr_is_bounded():
    history, _ = quadratic_run(lambda p: HDSGD(p, lr=1e-6, beta=0.5, max_scale=10.0), 200, curvature=1e-3)
    assert max(history) == pytest.approx(1e-5)


@pytest.mark.parametrize("hd,reference", [
    (lambda p: HDSGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, beta=0.0),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (lambda p: HDAdam(p, lr=1e-2, weight_decay=0.01, beta=0.0),
     lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=0.01)),
    (lambda p: HDAdam(p, lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, beta=0.0),
     lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1)),
], ids=["sgd", "adam", "adamw"])
def test_hypergradient_with_beta_zero_is_the_base_optimizer(hd, reference):
    finals = []
    for factory in (hd, reference):
        model, x, y = regression()
        opt = factory(model.parameters())
        for _ in range(30):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        finals.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*finals):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_hypergradient_state_dict_resumes_the_lr():
    w = torch.nn.Parameter(torch.zeros(10))
    opt = HDSGD([w], lr=1e-3)
    (0.5 * (w - 1).square().sum()).backward()
    opt.step()
    opt.step()
    copy = HDSGD([torch.nn.Parameter(w.detach().clone())], lr=1e-3)
    copy.load_state_dict(opt.state_dict())
    assert copy.effective_lrs() == pytest.approx(opt.effective_lrs())


def test_hypergradient_in_make_method_reports_its_adapted_lr():
    model, _, _ = regression()
    opt, schedule, _ = make_method("hypergradient", model.parameters(), 1e-3, T, optimizer="adamw")
    assert isinstance(opt, HDAdam) and opt.param_groups[0]["decoupled_weight_decay"]
    assert effective_lrs(opt) == schedule.get_last_lr() == [pytest.approx(1e-3)]
    _, _, schedule = train("hypergradient", base_lr=1e-3)
    assert schedule.get_last_lr()[0] != pytest.approx(1e-3)


@pytest.mark.parametrize("kwargs,field", [
    ({"lr": 0.0}, "lr"), ({"beta": -0.1}, "beta"), ({"min_scale": 0.0}, "min_scale"),
    ({"max_scale": 1e-4}, "max_scale"), ({"momentum": 1.5}, "momentum"), ({"nesterov": True}, "nesterov"),
])
def test_hypergradient_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        HDSGD([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_warmup_linear_ramps_then_decays_linearly_to_zero():
    import torch

    from lropt.schedules import make_schedule

    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(params, lr=2.0)
    sched = make_schedule("warmup_linear", opt, 100)
    lrs = []
    for _ in range(101):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(2.0 * 1 / 11)          # warmup over round(0.1 * 100) = 10 steps
    assert lrs[10] == pytest.approx(2.0)
    assert lrs[55] == pytest.approx(2.0 * (1 - 45 / 90))  # linear decay over the remaining 90 steps
    assert lrs[99] == pytest.approx(2.0 * (1 - 89 / 90))  # the last training step
    assert lrs[100] == lrs[99]                             # held after total_steps

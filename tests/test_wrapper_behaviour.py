"""Wrapper behaviour beyond the per-optimizer contract: bad values, AMP, facades, groups, errors."""
import math
import warnings

import pytest
import torch

from lropt import LRController, LROptimizerWrapper
from lropt import features as F
from common import active_controller, loss_at, make_model, two_groups


def adamw(model, **kw):
    return torch.optim.AdamW(two_groups(model), **kw)


def train(opt, model, steps, start=0):
    for step in range(start, start + steps):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_loss_keeps_lr_and_state(model, bad):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    train(opt, model, 5)
    lrs, state = opt.get_last_lr(), {k: v.clone() for k, v in opt._ctrl_state.items()}
    feats = {k: v.clone() for k, v in opt._feat.items()}
    loss = loss_at(model, 5)
    loss.backward()
    opt.step(loss=torch.tensor(bad))
    opt.zero_grad()
    assert opt.get_last_lr() == lrs
    for k in state:
        assert torch.equal(opt._ctrl_state[k], state[k])
    for k in feats:
        assert torch.equal(opt._feat[k], feats[k])
    train(opt, model, 5, start=6)
    assert all(math.isfinite(lr) and lr > 0 for lr in opt.get_last_lr())


def test_nonfinite_gradient_only_freezes_that_group(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller(), skip_nonfinite=True)
    train(opt, model, 3)
    before = [p.detach().clone() for p in model.parameters()]
    mult_before = opt.multipliers().clone()
    loss = loss_at(model, 3)
    loss.backward()
    model[0].weight.grad[0, 0] = float("nan")
    opt.step(loss=loss)
    opt.zero_grad()
    mult = opt.multipliers()
    assert mult[0] == mult_before[0]            # group 0 (NaN grad) untouched
    assert mult[1] != mult_before[1]            # group 1 still controlled
    assert opt._skipped == 1                    # base step skipped and counted
    for a, b in zip(before, model.parameters()):
        assert torch.equal(a, b)


def test_nan_gradient_without_skip_steps_but_lr_stays_finite(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    loss = loss_at(model, 0)
    loss.backward()
    for p in model.parameters():
        p.grad.fill_(float("inf"))
    opt.step(loss=loss)
    assert opt._skipped == 0
    assert all(math.isfinite(lr) and lr > 0 for lr in opt.get_last_lr())


def test_gradscaler_skipped_step_does_not_tick(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    for step in range(3):
        loss = loss_at(model, step)
        scaler.scale(loss).backward()
        scaler.step(opt, loss=loss)
        scaler.update()
        opt.zero_grad()
    assert opt._ticks == 3
    ctrl_state = {k: v.clone() for k, v in opt._ctrl_state.items()}
    loss = loss_at(model, 3)
    scaler.scale(loss).backward()
    model[2].bias.grad.fill_(float("inf"))
    scaler.step(opt, loss=loss)   # GradScaler sees the inf and skips our step
    scaler.update()
    opt.zero_grad()
    assert opt._ticks == 3
    for k in ctrl_state:
        assert torch.equal(opt._ctrl_state[k], ctrl_state[k])


def test_gradscaler_unscales_before_our_step(model):
    """With a fused base optimizer the wrapper must still get unscaled gradients."""
    ref = make_model()
    ref.load_state_dict(model.state_dict())
    opt = LROptimizerWrapper(torch.optim.AdamW(two_groups(model), fused=True), controller=None)
    ref_opt = torch.optim.AdamW(two_groups(ref), foreach=False)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for step in range(4):
        loss = loss_at(model, step)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        rl = loss_at(ref, step)
        rl.backward()
        ref_opt.step()
        ref_opt.zero_grad()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_scheduler_facade_is_idempotent(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    sched = opt.as_scheduler()
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    train(opt, model, 4)
    lrs = opt.get_last_lr()
    for _ in range(5):
        sched.step()
    assert opt.get_last_lr() == lrs == sched.get_last_lr()
    assert sched.state_dict()["last_epoch"] == 5


def test_torch_scheduler_composes_as_base_lr(model):
    """A scheduler writing group['lr'] sets the base LR; lropt multiplies on top."""
    base = adamw(model)
    opt = LROptimizerWrapper(base, controller=active_controller())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for step in range(7):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()
        sched.step()
    assert opt.base_lrs == pytest.approx([1e-2 * 0.25, 3e-3 * 0.25])
    assert opt.get_last_lr() == pytest.approx([b * m for b, m in zip(opt.base_lrs, opt.multipliers().tolist())])
    assert opt.get_last_lr() != pytest.approx(opt.base_lrs)


def test_add_param_group(model):
    opt = LROptimizerWrapper(torch.optim.AdamW(model[0].parameters(), lr=1e-2), controller=active_controller())
    train(opt, model, 2)
    opt.add_param_group({"params": list(model[2].parameters()), "lr": 1e-3})
    assert len(opt.get_last_lr()) == 2
    train(opt, model, 4, start=2)
    assert opt.multipliers().shape == (2,)
    assert opt._feat["count"].tolist() == [6.0, 4.0]
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], "lr": -1.0})


def test_every_n_steps_holds_the_multiplier(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller(), every=4)
    lrs = []
    for step in range(12):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()
        lrs.append(opt.get_last_lr())
    assert lrs[0] == lrs[1] == lrs[2] == lrs[3]
    assert lrs[4] != lrs[3]
    assert opt._feat["count"][0] == 3


def test_observe_val_feeds_the_feature(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    opt.observe(val_loss=2.0)
    opt.observe(val_loss=torch.tensor(1.0))
    assert opt._feat["val_delta"][0] == pytest.approx(math.log(0.5))
    opt.observe(val_loss=float("nan"))   # ignored
    assert opt._feat["val_delta"][0] == pytest.approx(math.log(0.5))


def test_observe_loss_for_frameworks_without_loss_kwarg(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    loss = loss_at(model, 0)
    loss.backward()
    opt.observe(loss=loss)
    opt.step()
    assert opt._feat["loss_last"][0] == pytest.approx(math.log(loss.item()))


def test_total_steps_overrun_warns_once(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller(), total_steps=2)
    with pytest.warns(UserWarning, match="total_steps=2"):
        train(opt, model, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(opt, model, 2, start=4)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"controller": "nope"}, ValueError, "available: .*default"),
        ({"controller": 3}, TypeError, "controller must be"),
        ({"every": 0}, ValueError, "every"),
        ({"total_steps": 0}, ValueError, "total_steps"),
        ({"log_every": -1}, ValueError, "log_every"),
    ],
)
def test_bad_arguments(model, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        LROptimizerWrapper(adamw(model), **kwargs)


def test_bad_base_optimizer(model):
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        LROptimizerWrapper(object())
    opt = LROptimizerWrapper(adamw(model), controller=None)
    with pytest.raises(TypeError, match="already"):
        LROptimizerWrapper(opt)
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]"):
        LROptimizerWrapper(torch.optim.SGD(model.parameters(), lr=0.0))


@pytest.mark.parametrize("bad", ["1.0", [1.0], torch.ones(3), True])
def test_wrong_loss_type_fails_loudly(model, bad):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    loss_at(model, 0).backward()
    with pytest.raises(TypeError, match="loss"):
        opt.step(loss=bad)


def test_lstm_controller(model):
    torch.manual_seed(0)
    ctrl = LRController(cell="lstm")
    torch.nn.init.normal_(ctrl.head.weight)
    opt = LROptimizerWrapper(adamw(model), controller=ctrl)
    train(opt, model, 5)
    assert "c" in opt._ctrl_state
    assert opt.get_last_lr() != [1e-2, 3e-3]


def test_wrapper_leaves_the_controller_trainable_and_builds_no_graph(model):
    """Meta-training validates the very controller it trains: wrapping must not freeze it."""
    ctrl = active_controller()
    opt = LROptimizerWrapper(adamw(model), controller=ctrl)
    train(opt, model, 3)
    assert all(p.requires_grad for p in ctrl.parameters())
    assert all(p.grad is None for p in ctrl.parameters())
    assert opt._ctrl_state["log_mult"].grad_fn is None


def test_large_groups_are_sampled_but_the_update_ratio_is_right():
    """Groups above SAMPLE_BUDGET read a strided sample; the update-to-weight ratio stays accurate."""
    from lropt import wrapper as W

    torch.manual_seed(0)
    big = torch.nn.Linear(512, 512)          # 262k weights: sampled
    assert sum(p.numel() for p in big.parameters()) > W.SAMPLE_BUDGET
    opt = LROptimizerWrapper(torch.optim.SGD(big.parameters(), lr=0.1), controller=active_controller())
    x = torch.randn(64, 512)
    before = [p.detach().clone() for p in big.parameters()]
    big(x).pow(2).mean().backward()
    opt.step(loss=torch.tensor(1.0))
    exact = (sum((p.detach() - b).pow(2).sum() for p, b in zip(big.parameters(), before)).sqrt()
             / sum(p.detach().pow(2).sum() for p in big.parameters()).sqrt())
    assert opt._update_ratio[0] == pytest.approx(float(exact), rel=0.05)


def test_skip_nonfinite_sees_a_nan_outside_the_sample():
    big = torch.nn.Linear(512, 512)
    opt = LROptimizerWrapper(torch.optim.SGD(big.parameters(), lr=0.1), controller=active_controller(),
                             skip_nonfinite=True)
    big(torch.randn(4, 512)).sum().backward()
    big.weight.grad[0, 1] = float("nan")     # stride > 1, so element 1 is not in the sample
    opt.step(loss=torch.tensor(1.0))
    assert opt._skipped == 1


def raising_controller(**kwargs) -> LRController:
    """An active controller whose network alone would raise the LR, so a guard's push down shows."""
    ctrl = active_controller(**kwargs)
    with torch.no_grad():
        ctrl.head.bias.fill_(10.0)
    return ctrl


def test_a_call_standing_for_n_steps_moves_the_multiplier_n_times_as_far():
    ctrl = active_controller(guard_loss_ratio=1.5)
    feats = torch.randn(3, F.num_features()) * 0.3
    with torch.no_grad():
        one = ctrl(feats, ctrl.init_state(3))["log_mult"]
        ten = ctrl(feats, ctrl.init_state(3), steps_per_call=10)["log_mult"]
        feats[:, F.FEATURE_NAMES.index("loss_vs_start")] = math.log(2.0) / 3     # diverging: the guard acts
        feats[:, F.FEATURE_NAMES.index("loss_trend")] = 0.1
        guarded = ctrl(feats, ctrl.init_state(3), steps_per_call=10)["log_mult"]
    assert (one.abs() > 1e-4).all() and torch.allclose(ten, 10 * one, rtol=1e-5)
    assert torch.allclose(guarded, torch.full((3,), -1.0))


def test_every_n_keeps_the_per_step_rate_of_the_multiplier(model):
    """The wrapper's first call sees the same inputs whatever ``every`` is; with every=5 it stands for 5 steps."""
    import copy

    twin = copy.deepcopy(model)
    ctrl = active_controller()
    opts = [LROptimizerWrapper(adamw(m), controller=copy.deepcopy(ctrl), every=e) for m, e in ((model, 1), (twin, 5))]
    for opt, m in zip(opts, (model, twin)):
        train(opt, m, 1)
    one, five = (torch.log(o.multipliers()) for o in opts)
    assert (one.abs() > 1e-4).all() and torch.allclose(five, 5 * one, rtol=1e-5)


def test_divergence_guard_forces_the_lr_down_while_loss_is_above_the_ratio():
    ctrl = raising_controller(guard_loss_ratio=1.5)
    feats = torch.zeros(4, F.num_features())
    col = F.FEATURE_NAMES.index("loss_vs_start")
    trend = F.FEATURE_NAMES.index("loss_trend")
    # loss at 2x the first and rising; 2x but flat (a plateau after a shift); 1.2x rising; 1x
    feats[:, col] = torch.tensor([math.log(2.0), math.log(2.0), math.log(1.2), 0.0]) / 3
    feats[:, trend] = torch.tensor([0.1, -0.01, 0.1, 0.1])
    with torch.no_grad():
        out = ctrl(feats, ctrl.init_state(4))
    assert float(out["log_mult"][0]) == pytest.approx(-0.1)
    assert (out["log_mult"][1:] > 0).all()
    with pytest.raises(ValueError, match="guard_loss_ratio"):
        LRController(guard_loss_ratio=0.5)


def test_overfitting_guard_forces_the_lr_down_while_validation_is_above_its_best():
    ctrl = raising_controller(overfit_guard=0.03)
    feats = torch.zeros(3, F.num_features())
    # 5% above the best; 2% above (under the threshold); at the best
    feats[:, F.FEATURE_NAMES.index("val_vs_best")] = torch.log(torch.tensor([1.05, 1.02, 1.0])) / F.VAL_VS_BEST_CLIP
    unguarded = active_controller()
    unguarded.load_state_dict(ctrl.state_dict())
    with torch.no_grad():
        out = ctrl(feats, ctrl.init_state(3))
        off = unguarded(feats, ctrl.init_state(3))
    assert float(out["log_mult"][0]) == pytest.approx(-0.1)
    assert torch.equal(out["log_mult"][1:], off["log_mult"][1:]) and (off["log_mult"] > 0).all()
    assert "overfit_guard" not in active_controller().config and not ctrl.is_identity()
    for bad in (-0.1, 0.3, 1.0):
        with pytest.raises(ValueError, match="overfit_guard"):
            LRController(overfit_guard=bad)
    with pytest.raises(ValueError, match="val_vs_best"):
        LRController(overfit_guard=0.03, num_features=10)


def _observe_every(opt, model, interval, times):
    for i in range(times):
        train(opt, model, interval, start=i * interval)
        opt.observe(val_loss=1.0)


def test_validation_losses_too_far_apart_draw_one_warning_with_the_interval_to_use(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller(), total_steps=200)
    with pytest.warns(UserWarning, match=r"50 steps apart give about 4 per run.*every 8 steps") as seen:
        _observe_every(opt, model, 50, 3)
    assert len([w for w in seen if "steps apart" in str(w.message)]) == 1


@pytest.mark.parametrize("kwargs, interval", [
    (dict(controller=active_controller(), total_steps=200), 8),     # 25 per run
    (dict(controller=active_controller()), 50),                     # no total_steps: nothing to compare with
    (dict(controller=None, total_steps=200), 50),                   # no controller reads them
    (dict(controller=active_controller(), total_steps=90), 30),     # a short run: the advice means little
])
def test_no_interval_warning_when_evaluations_are_frequent_or_the_run_length_unknown(model, kwargs, interval):
    opt = LROptimizerWrapper(adamw(model), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _observe_every(opt, model, interval, 3)


def test_the_overfitting_guard_turns_a_rising_validation_loss_into_a_falling_lr(model):
    """Through the wrapper: the shipped default's guard acts once observe() reports a loss 5% above its best."""
    opt = LROptimizerWrapper(adamw(model), controller="default", total_steps=100)
    assert opt.controller.config["overfit_guard"] == pytest.approx(0.03)
    train(opt, model, 10)
    opt.observe(val_loss=1.0)
    opt.observe(val_loss=1.05)
    before = opt.multipliers().clone()
    train(opt, model, 5, start=10)
    assert torch.allclose(opt.multipliers(), before * math.exp(-0.5), rtol=1e-4)


def test_zero_gradients_keep_the_lr_finite_and_positive(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    for step in range(5):
        loss = loss_at(model, step)
        loss.backward()
        for p in model.parameters():
            p.grad.zero_()
        opt.step(loss=loss)
        opt.zero_grad()
    assert all(math.isfinite(lr) and lr > 0 for lr in opt.get_last_lr())
    assert all(torch.isfinite(v).all() for v in opt._feat.values())


def test_an_empty_parameter_group_is_carried_along(model):
    groups = two_groups(model) + [{"params": [], "lr": 1e-3}]
    opt = LROptimizerWrapper(torch.optim.AdamW(groups), controller=active_controller())
    train(opt, model, 4)
    assert len(opt.get_last_lr()) == 3 and all(lr > 0 for lr in opt.get_last_lr())


def test_skipped_steps_reach_tensorboard(model, tmp_path):
    from lropt.logging import read_scalars

    opt = LROptimizerWrapper(adamw(model), controller=active_controller(), skip_nonfinite=True,
                             log_dir=tmp_path / "run", log_every=1)
    for step in range(3):
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=torch.tensor(float("nan")) if step == 1 else loss)
        opt.zero_grad()
    opt.close()
    assert [v for _, v in read_scalars(tmp_path / "run")["lropt/skipped_steps"]] == [0.0, 1.0, 1.0]


def test_warm_up_start_is_the_base_optimizer_at_the_start_lr(model):
    """An untrained controller with ``start_log_mult`` is the bare optimizer at base LR x exp(start)."""
    import copy

    start = math.log(0.1)
    ref_model = copy.deepcopy(model)
    ref = torch.optim.AdamW(two_groups(ref_model))
    for g in ref.param_groups:
        g["lr"] *= math.exp(start)
    opt = LROptimizerWrapper(adamw(model), controller=LRController(start_log_mult=start), every=3)
    assert opt.get_last_lr() == pytest.approx([1e-3, 3e-4])     # before the first step too
    train(opt, model, 5)
    for step in range(5):
        loss_at(ref_model, step).backward()
        ref.step()
        ref.zero_grad()
    for a, b in zip(model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b)
    assert opt.param_groups[0]["lr"] == 1e-2, "group['lr'] keeps the base LR"
    assert not opt.controller.is_identity()


def test_warm_up_start_holds_for_a_group_added_between_controller_calls():
    """With every=3, a group added after step 1 takes its first step at base x exp(start), not at base."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
    start = math.log(0.3)
    opt = LROptimizerWrapper(torch.optim.SGD(a.parameters(), lr=0.1), controller=LRController(start_log_mult=start),
                             every=3)
    x = torch.randn(8, 3)

    def step():
        loss = b(a(x)).pow(2).mean()
        loss.backward()
        opt.step(loss=loss)
        opt.zero_grad()

    step()                                            # a controller call (step 0)
    opt.add_param_group({"params": list(b.parameters()), "lr": 0.1})
    before = b.weight.detach().clone()
    loss = b(a(x)).pow(2).mean()
    loss.backward()
    grad = b.weight.grad.clone()
    opt.step(loss=loss)                               # step 1: no controller call, host multipliers used
    torch.testing.assert_close(b.weight.detach(), before - 0.1 * 0.3 * grad)


def test_warm_up_start_climbs_with_the_network_and_is_validated():
    ctrl = active_controller(start_log_mult=-2.0)
    with torch.no_grad():
        ctrl.head.bias.fill_(10.0)
    state = ctrl.init_state(2)
    for _ in range(5):
        with torch.no_grad():
            state = ctrl(torch.zeros(2, ctrl.config["num_features"]), state)
    torch.testing.assert_close(state["log_mult"], torch.full((2,), -2.0 + 5 * 0.1))
    for bad in (0.5, -5.0):
        with pytest.raises(ValueError, match="start_log_mult"):
            LRController(start_log_mult=bad)


def test_a_state_dict_from_before_val_vs_best_loads_and_starts_its_best_at_the_last_val(model):
    """Saved by lropt with feature spec 2: no ``val_best`` in the statistics, 10-input weights."""
    opt = LROptimizerWrapper(adamw(model), controller=active_controller())
    train(opt, model, 4)
    opt.observe(val_loss=2.0)
    opt.observe(val_loss=3.0)
    sd = opt.state_dict()
    old = dict(sd, lropt=dict(sd["lropt"]))
    old["lropt"]["features"] = {k: v for k, v in sd["lropt"]["features"].items() if k != "val_best"}
    weights = dict(sd["lropt"]["controller"]["weights"])
    weights["cell.weight_ih"] = weights["cell.weight_ih"][:, :10].clone()
    old["lropt"]["controller"] = dict(sd["lropt"]["controller"], weights=weights)
    fresh = LROptimizerWrapper(adamw(make_model()), controller=active_controller(seed=1))
    fresh.load_state_dict(old)
    assert fresh.controller.cell.weight_ih[:, 10].eq(0).all()
    torch.testing.assert_close(fresh.controller.cell.weight_ih[:, :10], weights["cell.weight_ih"])
    assert torch.equal(fresh._feat["val_best"], fresh._feat["val_last"])   # 3.0, not the 2.0 it never saw
    assert torch.allclose(fresh._feat["val_last"], torch.log(torch.tensor(3.0)))


def _call_losses(opt, model, losses):
    """Step with these losses (gradients from the model) and return the log-loss the features hold."""
    for step, value in enumerate(losses):
        loss_at(model, step).backward()
        opt.step(loss=torch.tensor(value))
        opt.zero_grad()
    return float(opt._feat["loss_last"][0])


def test_every_n_feeds_the_mean_loss_of_the_steps_since_the_last_call(model):
    opt = LROptimizerWrapper(adamw(model), controller=active_controller(), every=3)
    assert _call_losses(opt, model, [4.0]) == pytest.approx(math.log(4.0))          # call at step 0
    assert _call_losses(opt, model, [1.0, 2.0, 6.0]) == pytest.approx(math.log(3.0))  # steps 1-3, call at 3
    # a non-finite loss is left out of the mean; a window of none leaves the statistics alone
    assert _call_losses(opt, model, [float("nan"), 2.0, 4.0]) == pytest.approx(math.log(3.0))
    before = opt._feat["loss_fast"].clone()
    assert _call_losses(opt, model, [float("inf")] * 3) == pytest.approx(math.log(3.0))
    assert torch.equal(opt._feat["loss_fast"], before)


def test_every_n_resumes_mid_window_exactly(model):
    """The loss window travels in the state dict: a run cut between controller calls continues the same."""
    import copy

    twin = copy.deepcopy(model)
    ctrl = active_controller()
    full = LROptimizerWrapper(adamw(model), controller=copy.deepcopy(ctrl), every=4)
    train(full, model, 14)
    cut = LROptimizerWrapper(adamw(twin), controller=copy.deepcopy(ctrl), every=4)
    train(cut, twin, 7)                        # steps 5 and 6 are in the window of the call at step 8
    assert float(cut._loss_n) == 2
    saved = copy.deepcopy(cut.state_dict())
    resumed = LROptimizerWrapper(adamw(twin), controller=copy.deepcopy(ctrl), every=4)
    resumed.load_state_dict(saved)
    train(resumed, twin, 7, start=7)
    assert torch.equal(resumed.multipliers(), full.multipliers())
    for key in full._feat:
        assert torch.equal(resumed._feat[key], full._feat[key]), key


def test_every_one_ignores_a_saved_loss_window_and_old_pickles_load(model):
    """A state dict saved mid-window at every=4 and loaded at every=1 reads each step's own loss; a wrapper
    pickled before the window existed still steps."""
    import pickle

    saver = LROptimizerWrapper(adamw(model), controller=active_controller(), every=4)
    _call_losses(saver, model, [1.0, 1.0])
    plain = LROptimizerWrapper(adamw(model), controller=active_controller())
    plain.load_state_dict(saver.state_dict())
    assert _call_losses(plain, model, [100.0]) == pytest.approx(math.log(100.0))

    state = plain.__getstate__()
    del state["_loss_sum"], state["_loss_n"]
    old = LROptimizerWrapper.__new__(LROptimizerWrapper)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert _call_losses(old, model, [2.0]) == pytest.approx(math.log(2.0))

"""features.py: finite and bounded for any input, NaN never enters the state, vmap-able."""
import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lropt import features as F

any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -0.0, 1e-38, 1e38, -1.0]),
)


@settings(max_examples=300, deadline=None)
@given(
    losses=st.lists(st.one_of(any_float, st.none()), min_size=1, max_size=8),
    grads=st.lists(st.tuples(any_float, any_float), min_size=1, max_size=8),
    ratio=st.tuples(any_float, any_float),
    log_mult=st.tuples(any_float, any_float),
    align=st.tuples(any_float, any_float),
    val=st.lists(any_float, max_size=3),
    progress=st.one_of(st.none(), any_float),
)
def test_features_always_finite_and_bounded(losses, grads, ratio, log_mult, align, val, progress):
    state = F.init(2)
    for v in val:
        state = F.observe_val(state, torch.tensor(v))
    for loss, grad in zip(losses, grads):
        feats, state, ok = F.update(
            state,
            loss=None if loss is None else torch.tensor(loss),
            grad_norm=torch.tensor(grad),
            update_ratio=torch.tensor(ratio),
            log_mult=torch.tensor(log_mult),
            grad_align=torch.tensor(align),
            progress=None if progress is None else torch.tensor(progress),
        )
        assert feats.shape == (2, F.num_features())
        assert torch.isfinite(feats).all()
        assert feats.abs().max() <= 2.0
        for k, v in state.items():
            assert torch.isfinite(v).all(), k


def test_nonfinite_step_leaves_state_untouched():
    state = F.init(1)
    _, state, _ = F.update(state, loss=torch.tensor(2.0), grad_norm=torch.tensor([1.0]),
                           update_ratio=torch.zeros(1), log_mult=torch.zeros(1), grad_align=torch.zeros(1))
    for bad_loss, bad_grad in [(float("nan"), 1.0), (1.0, float("inf"))]:
        _, new, ok = F.update(state, loss=torch.tensor(bad_loss), grad_norm=torch.tensor([bad_grad]),
                              update_ratio=torch.zeros(1), log_mult=torch.zeros(1), grad_align=torch.zeros(1))
        assert not ok.any()
        for k in state:
            assert torch.equal(new[k], state[k])


def test_feature_values_follow_their_definitions():
    state = F.init(1)
    feats = None
    for loss in [4.0, 2.0, 1.0]:
        feats, state, ok = F.update(state, loss=torch.tensor(loss), grad_norm=torch.tensor([1.0]),
                                    update_ratio=torch.tensor([1e-3]), log_mult=torch.tensor([0.5]),
                                    grad_align=torch.tensor([0.1]), progress=torch.tensor(0.25))
    named = dict(zip(F.FEATURE_NAMES, feats[0].tolist()))
    assert named["loss_vs_start"] < 0 and math.isclose(named["loss_vs_start"], math.log(1 / 4) / 3, rel_tol=1e-5)
    assert named["loss_trend"] < 0            # falling loss
    assert named["progress"] == 0.25 and named["has_progress"] == 1.0
    assert abs(named["update_ratio"]) < 1e-6  # centred at 1e-3
    assert math.isclose(named["log_mult"], 0.1, rel_tol=1e-6)
    assert named["grad_vs_slow"] == 0.0
    # a constant cosine of 0.1: the debiased EMA is 0.1, spread by the signed log
    assert math.isclose(named["grad_align"], math.log1p(F.ALIGN_SCALE * 0.1) / math.log1p(F.ALIGN_SCALE), rel_tol=1e-5)


def test_grad_align_sign_and_order():
    """Overshooting (cosine > 0) reads positive, falling short negative, and larger cosines read larger."""
    def read(cos):
        feats, _, _ = F.update(F.init(1), loss=torch.tensor(1.0), grad_norm=torch.tensor([1.0]),
                               update_ratio=torch.zeros(1), log_mult=torch.zeros(1), grad_align=torch.tensor([cos]))
        return feats[0, F.FEATURE_NAMES.index("grad_align")].item()

    values = [read(c) for c in (-1.0, -0.5, -0.01, 0.0, 0.01, 0.5, 1.0, 7.0, float("nan"))]
    assert values[:7] == sorted(values[:7]) and values[3] == 0.0
    assert math.isclose(values[0], -1.0, rel_tol=1e-6) and math.isclose(values[6], 1.0, rel_tol=1e-6)
    assert values[7] == values[6] and values[8] == 0.0   # out of range is clipped, NaN reads as unknown


def test_vmap_matches_loop():
    def one(loss, grad):
        feats, _, _ = F.update(F.init(1), loss=loss, grad_norm=grad.reshape(1),
                               update_ratio=torch.zeros(1), log_mult=torch.zeros(1), grad_align=grad.reshape(1) / 4,
                               progress=torch.tensor(0.5))
        return feats

    losses, grads = torch.tensor([1.0, 3.0, float("nan")]), torch.tensor([0.5, 2.0, 1.0])
    batched = torch.func.vmap(one)(losses, grads)
    looped = torch.stack([one(l, g) for l, g in zip(losses, grads)])
    torch.testing.assert_close(batched, looped)


def test_extend_shares_validation_stats():
    state = F.observe_val(F.observe_val(F.init(1), torch.tensor(2.0)), torch.tensor(1.0))
    ext = F.extend(state, 2)
    assert ext["val_delta"].tolist() == [state["val_delta"][0].item()] * 3
    assert ext["count"].shape == (3,)


def _val_vs_best(vals) -> list[float]:
    """The ``val_vs_best`` feature after each validation loss in ``vals``."""
    state, out = F.init(1), []
    for v in vals:
        state = F.observe_val(state, torch.tensor(v))
        feats, state, _ = F.update(state, loss=torch.tensor(1.0), grad_norm=torch.tensor([1.0]),
                                   update_ratio=torch.zeros(1), log_mult=torch.zeros(1), grad_align=torch.zeros(1))
        out.append(feats[0, F.FEATURE_NAMES.index("val_vs_best")].item())
    return out


def test_val_vs_best_is_zero_while_improving_and_stays_up_after_the_turn():
    got = _val_vs_best([1.0, 0.8, 0.5, 0.55, 0.6, 0.58, float("nan"), 0.4, 5.0])
    assert got[:3] == [0.0, 0.0, 0.0]                                  # improving: at its best
    assert math.isclose(got[3], math.log(0.55 / 0.5) / 0.3, rel_tol=1e-5)
    assert math.isclose(got[5], math.log(0.58 / 0.5) / 0.3, rel_tol=1e-5)  # persists (val_delta < 0 here)
    assert got[6] == got[5]                                            # a NaN validation loss is ignored
    assert got[7] == 0.0                                               # a new best
    assert got[8] == 1.0                                               # clipped


def test_restore_starts_val_best_of_an_older_state_at_the_last_validation_loss():
    old = F.observe_val(F.observe_val(F.init(2), torch.tensor(2.0)), torch.tensor(3.0))
    del old["val_best"]                                                # saved by lropt before feature spec 3
    state = F.restore(old, 2)
    assert torch.equal(state["val_best"], old["val_last"])
    assert set(state) == set(F.init(2))
    state = F.observe_val(state, torch.tensor(3.3))
    assert torch.allclose(state["val_best"], torch.log(torch.tensor([3.0, 3.0])))


def test_a_non_positive_validation_loss_is_ignored():
    """Its log means nothing; a floor value would stand as the best for the rest of the run."""
    got = _val_vs_best([0.5, 0.0, -1.0, 0.6])
    assert got[1] == got[2] == 0.0
    assert math.isclose(got[3], math.log(0.6 / 0.5) / 0.3, rel_tol=1e-5)


def test_a_call_for_n_steps_decays_the_averages_as_n_steps_would():
    """steps=N on inputs that held still for N steps gives the state and features of N one-step calls."""
    def run(per_call, calls):
        state = F.init(2)
        for loss, grad in [(2.0, 1.0), (1.5, 0.8), (1.2, 0.7)]:
            for _ in range(calls):
                feats, state, _ = F.update(state, loss=torch.tensor(loss), grad_norm=torch.tensor([grad, 2 * grad]),
                                           update_ratio=torch.full((2,), 1e-3), log_mult=torch.zeros(2),
                                           grad_align=torch.full((2,), -0.2), progress=None, steps=per_call)
        return feats, state

    many, many_state = run(1, 5)
    one, one_state = run(5, 1)
    assert torch.allclose(one, many, atol=1e-5)
    for key in ("loss_fast", "loss_slow", "grad_slow", "align_fast"):
        # the raw EMAs agree; the counts differ (calls, not steps) and the debiasing accounts for it
        assert torch.allclose(one_state[key], many_state[key], atol=1e-6), key
    assert not torch.allclose(run(1, 1)[0], one, atol=1e-3)  # and steps=5 is not a one-step call

"""The grad_align feature in the wrapper: a plain reference step by step, the sign on a quadratic,
sampling of large groups, and state dicts of an older lropt."""
import math

import pytest
import torch

from lropt import LRController, LROptimizerWrapper
from lropt import features as F
from lropt import wrapper as W
from common import loss_at, make_model, two_groups

ALIGN = F.FEATURE_NAMES.index("grad_align")


def _flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def _reference(cosines, beta=F.FAST_BETA, scale=F.ALIGN_SCALE):
    """The feature from its definition: debiased fast EMA of the cosines, then the signed log."""
    ema, out = 0.0, []
    for i, c in enumerate(cosines, start=1):
        ema = beta * ema + (1 - beta) * c
        hat = ema / (1 - beta**i)
        out.append(math.copysign(math.log1p(scale * abs(hat)) / math.log1p(scale), hat))
    return out


def test_grad_align_matches_a_plain_reference_step_by_step():
    model = make_model()
    groups = two_groups(model)
    opt = LROptimizerWrapper(torch.optim.Adam(groups), controller=LRController())
    prev = [None, None]
    cosines = [[], []]
    features = []
    for step in range(12):
        opt.zero_grad()
        loss = loss_at(model, step)
        loss.backward()
        before = []
        for i, g in enumerate(opt.param_groups):
            grad = _flat([p.grad for p in g["params"]])
            cosines[i].append(0.0 if prev[i] is None else float(torch.dot(grad, prev[i]) / (grad.norm() * prev[i].norm())))
            before.append(_flat([p.detach() for p in g["params"]]).clone())
        opt.step(loss=loss)
        features.append(opt._last_features[:, ALIGN].clone())
        prev = [_flat([p.detach() for p in g["params"]]) - b for g, b in zip(opt.param_groups, before)]
    got = torch.stack(features).T
    want = torch.tensor([_reference(c) for c in cosines])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert got[:, 0].eq(0).all() and got[:, 1:].ne(0).all()


@pytest.mark.parametrize("lr, sign", [(0.02, -1), (1.8, 1)])
def test_sgd_on_a_quadratic_reads_negative_when_short_and_positive_when_overshooting(lr, sign):
    """On 0.5 x'Ax with curvature 1, SGD with lr < 1 keeps moving the same way (cosine -1 per step) and
    1 < lr < 2 flips the gradient each step (cosine +1): the hypergradient's sign."""
    x = torch.nn.Parameter(torch.ones(5))
    opt = LROptimizerWrapper(torch.optim.SGD([x], lr=lr), controller=LRController())
    for _ in range(10):
        opt.zero_grad()
        loss = 0.5 * x.pow(2).sum()
        loss.backward()
        opt.step(loss=loss)
    # every cosine is exactly +-1 after the first step, which has no previous update (0)
    assert opt._last_features[0, ALIGN].item() == pytest.approx(_reference([0.0] + [sign] * 9)[-1], abs=1e-5)
    assert sign * opt._last_features[0, ALIGN].item() > 0.98


def test_large_groups_keep_a_sample_whose_cosine_is_right():
    torch.manual_seed(0)
    big = torch.nn.Linear(512, 512)          # 262k weights: sampled
    assert sum(p.numel() for p in big.parameters()) > W.SAMPLE_BUDGET
    opt = LROptimizerWrapper(torch.optim.Adam(big.parameters(), lr=1e-3), controller=LRController())
    x, y = torch.randn(64, 512), torch.randn(64, 512)
    for _ in range(2):
        before = _flat([p.detach() for p in big.parameters()]).clone()
        opt.zero_grad()
        (big(x) - y).pow(2).mean().backward()
        opt.step(loss=torch.tensor(1.0))
        update = _flat([p.detach() for p in big.parameters()]) - before
    opt.zero_grad()
    (big(x) - y).pow(2).mean().backward()
    grad = _flat([p.grad for p in big.parameters()])
    exact = float(torch.dot(grad, update) / (grad.norm() * update.norm()))
    prev = opt._prev_update[0]
    kept = prev[1]
    assert kept.numel() <= 2 * W.SAMPLE_BUDGET
    sampled = float(W._cosine(opt._align_grads(opt.param_groups[0], prev), kept, opt.device))
    assert abs(exact) > 0.05 and sampled == pytest.approx(exact, abs=0.02)


def test_the_update_sample_survives_a_state_dict_round_trip_and_old_state_dicts_load():
    model = make_model()
    opt = LROptimizerWrapper(torch.optim.Adam(model.parameters(), lr=1e-2), controller=LRController())
    for step in range(3):
        opt.zero_grad()
        loss = loss_at(model, step)
        loss.backward()
        opt.step(loss=loss)
    sd = opt.state_dict()
    fresh = LROptimizerWrapper(torch.optim.Adam(model.parameters(), lr=1e-2), controller=LRController())
    fresh.load_state_dict(sd)
    assert opt._prev_update[0][0] == fresh._prev_update[0][0] == (0, 1, 2, 3)
    assert torch.equal(opt._prev_update[0][1], fresh._prev_update[0][1])
    # written by lropt 0.1.0 with grad_align: one kept sample per parameter, concatenated on load
    kept = opt._prev_update[0][1]
    sizes = [p.numel() for p in model.parameters()]
    listed = dict(sd, lropt=dict(sd["lropt"], prev_update=[((0, 1, 2, 3), list(kept.split(sizes)))]))
    fresh.load_state_dict(listed)
    assert torch.equal(fresh._prev_update[0][1], kept)
    # written by an lropt before grad_align: no update sample, no align state, 9-input controller weights
    old = dict(sd, lropt={k: v for k, v in sd["lropt"].items() if k != "prev_update"})
    old["lropt"]["features"] = {k: v for k, v in sd["lropt"]["features"].items() if k != "align_fast"}
    weights = dict(sd["lropt"]["controller"]["weights"])
    weights["cell.weight_ih"] = weights["cell.weight_ih"][:, :9].clone()
    old["lropt"]["controller"] = dict(sd["lropt"]["controller"], weights=weights)
    fresh.load_state_dict(old)
    assert fresh._prev_update == [((), None)] and fresh._feat["align_fast"].eq(0).all()
    assert fresh.controller.cell.weight_ih[:, 9].eq(0).all()
    torch.testing.assert_close(fresh.controller.cell.weight_ih[:, :9], weights["cell.weight_ih"])
    opt.zero_grad()
    loss_at(model, 3).backward()
    fresh.step(loss=torch.tensor(1.0))
    assert torch.isfinite(fresh._last_features).all()


def test_on_accelerators_the_whole_tensor_snapshot_is_thinned_to_the_same_sample(monkeypatch):
    """On accelerators the update-ratio snapshot reads whole tensors (stride 1); the kept update must
    still be sampled like the gradients it is compared with. Simulated on the CPU by forcing stride 1."""
    monkeypatch.setattr(W, "_stride", lambda params: 1)
    torch.manual_seed(0)
    big = torch.nn.Linear(512, 512)
    opt = LROptimizerWrapper(torch.optim.SGD(big.parameters(), lr=0.1), controller=LRController())
    x = torch.randn(64, 512)
    before = [p.detach().clone() for p in big.parameters()]
    big(x).pow(2).mean().backward()
    opt.step(loss=torch.tensor(1.0))
    stride = W._align_stride(list(big.parameters()))
    assert stride > 1
    prev = opt._prev_update[0]
    expected = torch.cat([(p.detach() - b).reshape(-1)[::stride] for p, b in zip(big.parameters(), before)])
    torch.testing.assert_close(prev[1], expected)
    opt.zero_grad()
    big(x).pow(2).mean().backward()
    grads = opt._align_grads(opt.param_groups[0], prev)
    assert grads.shape == prev[1].shape
    # SGD on a fixed batch: the next gradient points back along the step taken, cosine near -1
    assert float(W._cosine(grads, prev[1], opt.device)) < -0.9


def test_a_different_set_of_stepped_parameters_reads_unknown_not_another_parameters_update():
    """Two same-shaped parameters stepped in turn: the gradient of one is never compared with the
    update of the other (the cosine would be meaningless); the feature input is 0 instead."""
    a, b = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(-torch.ones(4))
    opt = LROptimizerWrapper(torch.optim.SGD([a, b], lr=0.1), controller=LRController())
    for step in range(4):
        opt.zero_grad(set_to_none=True)
        p = a if step % 2 == 0 else b
        loss = p.pow(2).sum()
        loss.backward()
        prev = opt._prev_update[0]
        if step:
            assert opt._align_grads(opt.param_groups[0], prev) is None   # other parameter stepped last time
        opt.step(loss=loss)
    assert opt._feat["align_fast"].eq(0).all()


def test_bf16_cosines_are_computed_in_float32():
    torch.manual_seed(0)
    x = torch.randn(60_000)
    y = 0.01 * x + torch.randn(60_000)      # cosine about 0.01
    exact = float(torch.dot(x, y) / (x.norm() * y.norm()))
    got = float(W._cosine(x.bfloat16(), y.bfloat16(), torch.device("cpu")))
    assert got == pytest.approx(exact, abs=1e-3)

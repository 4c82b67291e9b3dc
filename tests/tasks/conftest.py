"""Fixtures for the task tests: an isolated lropt cache, and tiny local stand-ins for downloads.

The stand-ins have the schema of the real downloads (a ``DatasetDict`` saved
with ``save_to_disk``; a ``save_pretrained`` DistilBERT folder with a
tokenizer trained here), so the download tasks run their real loading code.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lropt.tasks import forward

WORDS = (
    "good great fine bad awful movie film food taste sport game market stock team science "
    "space phone price love hate the a is was very not"
).split()


@pytest.fixture(scope="session", autouse=True)
def lropt_cache(tmp_path_factory):
    """Keep the tokenised-data cache of these tests out of ``~/.cache``."""
    path = tmp_path_factory.mktemp("lropt_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LROPT_CACHE", str(path))
        yield path


@pytest.fixture(autouse=True)
def one_thread():
    """Run these small models on one intra-op thread (restored afterwards).

    Tiny ops gain nothing from a second thread, and on a shared 2-core machine
    two OpenMP threads competing with another process slow them down 100x.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def train_steps():
    """``train_steps(task, steps, lr=None, seed=0)``: plain-Adam training, returns the losses."""
    return run_adam


def iter_adam(task, steps: int, lr: float | None = None, seed: int = 0):
    """Train ``task``'s model with plain Adam for ``steps`` steps, yielding ``(step, model, loss)`` after each."""
    torch.manual_seed(seed)
    model = task.init_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr or task.base_lr("adam"))
    for step in range(steps):
        inputs, targets = task.train_batch(step)
        loss = task.loss(forward(model, inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        yield step, model, float(loss.detach())


def run_adam(task, steps: int, lr: float | None = None, seed: int = 0) -> list[float]:
    """Train ``task``'s model with plain Adam for ``steps`` steps; return the losses."""
    return [loss for _, _, loss in iter_adam(task, steps, lr, seed)]


@pytest.fixture
def adam_steps():
    """``adam_steps(task, steps, lr=None, seed=0)``: plain-Adam training, yielding ``(step, model, loss)``."""
    return iter_adam


def sentences(n: int, rng, n_labels: int):
    """``n`` short random sentences whose label is the index of a marker word."""
    labels = rng.integers(0, n_labels, n)
    texts = [" ".join([WORDS[int(lab)]] + list(rng.choice(WORDS, size=rng.integers(3, 9)))) for lab in labels]
    return texts, labels.tolist()


def text_dataset_dict(splits: dict, text_column: str, n_labels: int, seed: int = 0, hidden_test: bool = False):
    """A ``DatasetDict`` like the hub's text classification sets (optionally an unlabelled test split)."""
    import datasets

    rng = np.random.default_rng(seed)
    out = {}
    for name, n in splits.items():
        texts, labels = sentences(n, rng, n_labels)
        if hidden_test and name == "test":
            labels = [-1] * n
        cols = {text_column: texts, "label": labels}
        if text_column == "sentence":
            cols = {"idx": list(range(n)), **cols}
        out[name] = datasets.Dataset.from_dict(cols)
    return datasets.DatasetDict(out)


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory):
    """A 1-layer, 32-wide DistilBERT (base model, no head, like the hub checkpoint) plus a WordPiece tokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    path = tmp_path_factory.mktemp("tiny-distilbert")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator([" ".join(WORDS)] * 20, trainers.WordPieceTrainer(vocab_size=120, special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = DistilBertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(path)
    config = DistilBertConfig(
        vocab_size=tok.get_vocab_size(), n_layers=1, n_heads=2, dim=32, hidden_dim=64, max_position_embeddings=64
    )
    torch.manual_seed(0)
    DistilBertModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def text_data(tmp_path_factory):
    """Saved DatasetDicts with the imdb, sst2 and ag_news schemas, under one LROPT_DATA_DIR-style root."""
    root = tmp_path_factory.mktemp("text_data")
    text_dataset_dict({"train": 48, "test": 16, "unsupervised": 8}, "text", 2).save_to_disk(root / "imdb")
    text_dataset_dict({"train": 48, "validation": 16, "test": 8}, "sentence", 2, hidden_test=True).save_to_disk(
        root / "sst2"
    )
    text_dataset_dict({"train": 48, "test": 16}, "text", 4).save_to_disk(root / "ag_news")
    return root


def image_dataset_dict(n_train: int, n_test: int, shape: tuple, column: str, seed: int = 0):
    """A ``DatasetDict`` of random PIL images and labels, like mnist / fashion_mnist / cifar10 on the hub."""
    import datasets
    from PIL import Image

    rng = np.random.default_rng(seed)
    features = datasets.Features({column: datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})

    def split(n):
        images = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for _ in range(n)]
        return datasets.Dataset.from_dict({column: images, "label": rng.integers(0, 10, n).tolist()}, features=features)

    return datasets.DatasetDict(train=split(n_train), test=split(n_test))


@pytest.fixture(scope="session")
def image_data(tmp_path_factory):
    """mnist, fashion_mnist and cifar10 stand-ins (HF format) plus a cifar-10-batches-py pickle folder."""
    root = tmp_path_factory.mktemp("image_data")
    image_dataset_dict(40, 12, (28, 28), "image").save_to_disk(root / "mnist")
    image_dataset_dict(40, 12, (28, 28), "image", seed=1).save_to_disk(root / "fashion_mnist")
    image_dataset_dict(16, 8, (32, 32, 3), "img").save_to_disk(root / "cifar10")
    pickles = root / "pickled" / "cifar-10-batches-py"
    pickles.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for name, n in (("data_batch_1", 8), ("data_batch_2", 8), ("test_batch", 6)):
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
        with open(pickles / name, "wb") as fh:
            pickle.dump(entry, fh)
    return root

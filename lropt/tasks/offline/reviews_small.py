"""``foodreviews-bow``, ``-textcnn`` and ``-gru``: from-scratch classifiers of the fine-food reviews.

Words are lower-cased ``[a-z0-9']+`` runs; the vocabulary is the training
split's words seen at least ``min_count`` times (at most ``max_vocab``); id 0
pads, id 1 is unknown. Encoding runs once through ``datasets.Dataset.map``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from torch import nn

from ..array_task import Arrays, ArrayTask, dataset_tensors
from ..seeding import seeded_module
from .reviews import review_dataset
from .text_models import BagOfEmbeddings, GRUClassifier, TextCNN

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def build_vocab(texts, min_count: int, max_vocab: int) -> dict[str, int]:
    """Word -> id (from 2, by frequency then alphabetically) for words seen ``min_count``+ times."""
    counts = Counter(w for t in texts for w in words(t))
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return {w: i + 2 for i, w in enumerate(ranked[: max_vocab - 2])}


def encode(texts, vocab: dict[str, int], max_len: int) -> list[list[int]]:
    """Padded (0) and truncated id lists; unknown words are 1."""
    out = []
    for t in texts:
        ids = [vocab.get(w, 1) for w in words(t)][:max_len]
        out.append(ids + [0] * (max_len - len(ids)))
    return out


@dataclass
class ReviewWordsTask(ArrayTask):
    """A word-id classifier (``model``: ``bow``, ``textcnn`` or ``gru``) on the fine-food reviews."""

    model: str = "bow"
    max_len: int = 128
    min_count: int = 2
    max_vocab: int = 10_000
    embed: int = 64
    hidden: int = 64
    dropout: float = 0.3

    def load_arrays(self) -> Arrays:
        train, val = review_dataset("train"), review_dataset("val")
        vocab = build_vocab(train["text"], self.min_count, self.max_vocab)
        self.__dict__["_vocab_size"] = len(vocab) + 2

        def tokenize(batch):
            return {"ids": encode(batch["text"], vocab, self.max_len)}

        train, val = (dataset_tensors(d.map(tokenize, batched=True), ["ids", "label"]) for d in (train, val))
        return Arrays(train["ids"], train["label"], val["ids"], val["label"])

    @property
    def vocab_size(self) -> int:
        if "_vocab_size" not in self.__dict__:
            self.arrays()
        return self.__dict__["_vocab_size"]

    def init_model(self, seed: int) -> nn.Module:
        v = self.vocab_size
        if self.model == "bow":
            return seeded_module(lambda: BagOfEmbeddings(v, self.embed, self.hidden, 2, self.dropout), seed)
        if self.model == "gru":
            return seeded_module(lambda: GRUClassifier(v, self.embed, self.hidden, 2, self.dropout), seed)
        return seeded_module(lambda: TextCNN(v, self.embed, self.hidden, (3, 4, 5), 2, self.dropout), seed)


def foodreviews_bow(**params) -> ReviewWordsTask:
    """Bag-of-embeddings MLP on the fine-food reviews."""
    defaults = dict(
        name="foodreviews-bow",
        family="foodreviews",
        model="bow",
        default_steps=500,
        batch_size=32,
        base_lrs={"adam": 3e-3, "adamw": 3e-3, "sgd": 0.5},
        description="fine-food reviews (4000/1000), bag-of-embeddings MLP from scratch",
    )
    return ReviewWordsTask(**{**defaults, **params})


def foodreviews_textcnn(**params) -> ReviewWordsTask:
    """TextCNN (widths 3/4/5) on the fine-food reviews."""
    defaults = dict(
        name="foodreviews-textcnn",
        family="foodreviews",
        model="textcnn",
        default_steps=500,
        batch_size=32,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1},
        description="fine-food reviews (4000/1000), TextCNN (widths 3/4/5) from scratch",
    )
    return ReviewWordsTask(**{**defaults, **params})


def foodreviews_gru(**params) -> ReviewWordsTask:
    """A word-level GRU (mean over the words) on the fine-food reviews."""
    defaults = dict(
        name="foodreviews-gru",
        family="foodreviews",
        model="gru",
        default_steps=500,
        batch_size=32,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1},
        description="fine-food reviews (4000/1000), one-layer word GRU from scratch",
    )
    return ReviewWordsTask(**{**defaults, **params})


__all__ = ["ReviewWordsTask", "foodreviews_bow", "foodreviews_gru", "foodreviews_textcnn"]

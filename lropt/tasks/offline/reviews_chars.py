"""``foodreviews-chargru``: a character-level GRU language model on the fine-food review text.

The training reviews, joined by newlines, are the training stream; the test
reviews the validation stream. The alphabet is the characters seen at least
``min_count`` times in the training stream (id 0 stands for every other
character). Each stream is cut into non-overlapping windows of ``seq_len + 1``
characters; a window's first ``seq_len`` characters are the input and its last
``seq_len`` the targets, so the loss is the mean next-character cross-entropy.
Validation reads ``val_windows`` windows evenly spaced over the validation stream.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from ..array_task import Arrays, ArrayTask
from ..seeding import seeded_module
from .reviews import review_frame
from .text_models import CharGRU


def alphabet(text: str, min_count: int) -> dict[str, int]:
    """Character -> id (from 1, by frequency then code point) for characters seen ``min_count``+ times."""
    counts = Counter(text)
    ranked = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    return {c: i + 1 for i, c in enumerate(ranked)}


def windows(text: str, chars: dict[str, int], seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``, each ``(n, seq_len)``: the stream's whole windows of ``seq_len + 1`` ids."""
    ids = torch.tensor([chars.get(c, 0) for c in text], dtype=torch.long)
    n = len(ids) // (seq_len + 1)
    cut = ids[: n * (seq_len + 1)].reshape(n, seq_len + 1)
    return cut[:, :-1].contiguous(), cut[:, 1:].contiguous()


@dataclass
class ReviewCharsTask(ArrayTask):
    """Next-character prediction on the review text (``CharGRU``: ``embed``, ``hidden``)."""

    seq_len: int = 64
    min_count: int = 20
    val_windows: int = 512
    embed: int = 32
    hidden: int = 128

    def load_arrays(self) -> Arrays:
        train = "\n".join(review_frame("train")["text"])
        val = "\n".join(review_frame("val")["text"])
        chars = alphabet(train, self.min_count)
        self.__dict__["_vocab_size"] = len(chars) + 1
        x_train, y_train = windows(train, chars, self.seq_len)
        x_val, y_val = windows(val, chars, self.seq_len)
        keep = torch.linspace(0, len(x_val) - 1, min(self.val_windows, len(x_val))).round().long()
        return Arrays(x_train, y_train, x_val[keep], y_val[keep])

    @property
    def vocab_size(self) -> int:
        if "_vocab_size" not in self.__dict__:
            self.arrays()
        return self.__dict__["_vocab_size"]

    def init_model(self, seed: int) -> nn.Module:
        return seeded_module(lambda: CharGRU(self.vocab_size, self.embed, self.hidden), seed)


def foodreviews_chargru(**params) -> ReviewCharsTask:
    """Character GRU language model on the fine-food review text."""
    defaults = dict(
        name="foodreviews-chargru",
        family="foodreviews",
        default_steps=400,
        batch_size=32,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.3},
        description="fine-food review text (1.6M/0.4M characters), character GRU language model from scratch",
    )
    return ReviewCharsTask(**{**defaults, **params})


__all__ = ["ReviewCharsTask", "alphabet", "foodreviews_chargru", "windows"]

"""``bag_of_words``: classify synthetic documents with a bag-of-embeddings MLP.

Why it exists: sparse, high-dimensional text models behave unlike the dense
families. Each step touches a few embedding rows, Adam's per-coordinate scaling
gives rare words large steps, the gradient hardly lines up with the previous
update, and a finite training set is memorised fast, so the validation loss
turns up early and steeply with too high a learning rate. A controller that
never met such a problem raises the LR on it (measured on the held-out
``foodreviews-bow``), so meta-training needs a family like it.

Documents are ``doc_len`` word ids (0 pads; each document has a random length
between a quarter of ``doc_len`` and ``doc_len``) drawn from a Zipf law over the
vocabulary. A fraction ``informative`` of the words carries a random score per
class; a document's class is drawn from ``softmax(margin * mean word score)``
(the score normalised over a probe of documents), and a fraction ``label_noise``
of labels is replaced by uniform noise. ``train_rows`` > 0 (the default range)
fixes a finite training set; 0 draws fresh documents every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from ..device_cache import cached
from ..offline.text_models import BagOfEmbeddings
from ..params import FloatRange, IntRange, ParamSpace
from ..seeding import SALT_TASK, generator, seeded_module
from .common import STEPS, TRAIN_ROWS, ParamFamily, SampledClassifier, with_label_noise

PROBE_SIZE = 2048


@dataclass
class BagOfWordsTask(SampledClassifier):
    """A bag-of-embeddings classifier of Zipf-distributed synthetic documents."""

    ARCH_FIELDS = ("vocab", "doc_len", "n_classes", "embed", "hidden", "dropout", "batch_size")

    vocab: int = 1000
    doc_len: int = 64
    n_classes: int = 2
    embed: int = 32
    hidden: int = 32
    dropout: float = 0.0
    zipf: float = 1.1
    informative: float = 0.5
    margin: float = 16.0
    label_noise: float = 0.0
    train_rows: int = 2000
    metric_name: str | None = "accuracy"
    # Adam: the median best constant LR of 5 draws at 300 steps (tools/calibrate_lr.py); SGD: a guess
    base_lrs: dict = field(default_factory=lambda: {"sgd": 0.2, "adam": 1e-3, "adamw": 1e-3})

    def init_model(self, seed: int) -> nn.Module:
        return seeded_module(
            lambda: BagOfEmbeddings(self.vocab, self.embed, self.hidden, self.n_classes, self.dropout), seed
        )

    def _problem(self):
        """``(word probabilities, word scores, score mean, score std)``, built on CPU from the data seed."""
        gen = generator(self.data_seed, SALT_TASK)
        ranks = torch.randperm(self.vocab - 1, generator=gen).to(torch.float64) + 1.0
        probs = torch.cat([torch.zeros(1, dtype=torch.float64), ranks ** -self.zipf]).to(torch.float32)
        keep = torch.rand(self.vocab, 1, generator=gen) < self.informative
        keep[0] = False
        scores = torch.randn(self.vocab, self.n_classes, generator=gen) * keep
        ids = self._ids(PROBE_SIZE, probs, gen, "cpu")
        probe = _doc_scores(ids, scores)
        return probs, scores, probe.mean(0), probe.std() + 1e-6

    def _ids(self, n: int, probs: Tensor, gen: torch.Generator, device) -> Tensor:
        ids = torch.multinomial(probs, n * self.doc_len, replacement=True, generator=gen).view(n, self.doc_len)
        lo = max(self.doc_len // 4, 1)
        lengths = torch.randint(lo, self.doc_len + 1, (n, 1), generator=gen, device=device)
        return ids * (torch.arange(self.doc_len, device=device) < lengths)

    def _sample(self, n: int, gen: torch.Generator, device) -> tuple[Tensor, Tensor]:
        probs, scores, mean, std = cached(self, "problem", device, self._problem)
        ids = self._ids(n, probs, gen, device)
        logits = self.margin * (_doc_scores(ids, scores) - mean) / std
        labels = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(-1)
        return ids, with_label_noise(labels, self.label_noise, self.n_classes, gen)


def _doc_scores(ids: Tensor, scores: Tensor) -> Tensor:
    """Mean word score of each document (padding excluded)."""
    mask = (ids != 0).unsqueeze(-1).to(scores.dtype)
    return (scores[ids] * mask).sum(1) / mask.sum(1).clamp_min(1.0)


class BagOfWordsFamily(ParamFamily):
    """Bag-of-embeddings MLPs on sparse synthetic documents, finite training sets by default."""

    name = "bag_of_words"
    description = "bag-of-embeddings MLP on Zipf-distributed synthetic documents (sparse, overfits)"
    TASK = BagOfWordsTask
    SPACE = ParamSpace(
        "bag_of_words",
        vocab=IntRange(3, 200_000, (300, 3000), log=True),
        doc_len=IntRange(1, 2048, (16, 128), log=True),
        n_classes=IntRange(2, 100, (2, 5)),
        embed=IntRange(1, 1024, (16, 64), log=True),
        hidden=IntRange(1, 2048, (16, 128), log=True),
        dropout=FloatRange(0.0, 0.9, (0.0, 0.3)),
        zipf=FloatRange(0.3, 3.0, (0.8, 1.3)),
        informative=FloatRange(0.0, 1.0, (0.1, 0.5)),
        margin=FloatRange(0.1, 100.0, (4.0, 16.0), log=True),
        label_noise=FloatRange(0.0, 0.9, (0.0, 0.15)),
        batch_size=IntRange(1, 8192, (16, 64), log=True),
        train_rows=replace(TRAIN_ROWS, default=(500, 5000)),   # finite by default: it overfits
        steps=STEPS,
    )

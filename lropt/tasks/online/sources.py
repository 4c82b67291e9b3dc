"""Finding data sets and models for the download tasks, with messages that say how to get them.

Data: an explicit ``data_dir`` (a folder written by ``Dataset(Dict).save_to_disk``,
or a folder holding one under the data set's short name), else
``$LROPT_DATA_DIR/<short name>``, else ``datasets.load_dataset(hub_id)`` (the
Hugging Face cache, or the network). Models: an explicit ``model`` (hub id or
local folder), ``$LROPT_MODEL_DIR/<model id>`` if it exists, else the hub id.
Connection and missing-file errors become a ``RuntimeError`` (no data/model
anywhere) or ``FileNotFoundError`` (an explicit path that holds nothing usable)
whose message lists what was tried and the commands that fix it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Errors that mean "not available here" (no network, not cached, not found).
UNAVAILABLE = (OSError, ValueError)


def data_root(data_dir=None) -> Path | None:
    """The explicit ``data_dir``, else ``$LROPT_DATA_DIR``, else ``None``."""
    root = data_dir or os.environ.get("LROPT_DATA_DIR")
    return Path(root).expanduser() if root else None


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` holds a ``save_to_disk`` output (a Dataset or a DatasetDict)."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def download_hint(task: str, hub_id: str, short: str, config: str | None = None) -> str:
    args = f"{hub_id!r}" + (f", {config!r}" if config else "")
    return (
        f"To use '{task}' without network, on a machine with network run:\n"
        f"    python -c \"import datasets; datasets.load_dataset({args}).save_to_disk('DATA/{short}')\"\n"
        f"then copy DATA/ here and set LROPT_DATA_DIR=DATA (or pass data_dir='DATA/{short}')."
    )


def load_hf_dataset(task: str, hub_id: str, short: str, data_dir=None, config: str | None = None):
    """The ``DatasetDict`` for ``hub_id`` from ``data_dir``, ``$LROPT_DATA_DIR`` or the hub (see module doc)."""
    import datasets

    tried = []
    if data_dir is not None:
        for path in (Path(data_dir).expanduser(), Path(data_dir).expanduser() / short):
            if is_saved_dataset(path):
                return _as_dict(datasets.load_from_disk(str(path)), path)
        raise FileNotFoundError(
            f"data_dir={str(data_dir)!r} holds no saved '{short}' data set (no dataset_dict.json or state.json "
            f"there or in {short}/).\n" + download_hint(task, hub_id, short, config)
        )
    env = os.environ.get("LROPT_DATA_DIR")
    if env:
        path = Path(env).expanduser() / short
        if is_saved_dataset(path):
            return _as_dict(datasets.load_from_disk(str(path)), path)
        tried.append(f"$LROPT_DATA_DIR/{short} ({path}: not found)")
    try:
        return datasets.load_dataset(hub_id, config) if config else datasets.load_dataset(hub_id)
    except UNAVAILABLE as err:
        tried.append(f"datasets.load_dataset({hub_id!r}): {type(err).__name__}: {err}")
        raise RuntimeError(
            f"could not load the '{short}' data set for task '{task}'. Tried:\n  - "
            + "\n  - ".join(tried)
            + "\n"
            + download_hint(task, hub_id, short, config)
        ) from err


def _as_dict(obj, path: Path):
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        return obj
    raise FileNotFoundError(f"{path} holds a single Dataset; save a DatasetDict with train and test/validation splits")


def resolve_model(task: str, model: str) -> str:
    """``model`` as given if it is a folder, else ``$LROPT_MODEL_DIR/<model>`` if that exists, else ``model``."""
    if os.path.isdir(os.path.expanduser(model)):
        return os.path.expanduser(model)
    env = os.environ.get("LROPT_MODEL_DIR")
    if env and os.path.isdir(os.path.join(env, model)):
        return os.path.join(env, model)
    return model


def model_hint(task: str, model: str) -> str:
    return (
        f"could not load the model {model!r} for task '{task}'. On a machine with network run:\n"
        f'    python -c "from transformers import AutoTokenizer, AutoModel; '
        f"[c.from_pretrained('{model}').save_pretrained('MODELS/{model}') for c in (AutoTokenizer, AutoModel)]\"\n"
        f"then copy MODELS/ here and set LROPT_MODEL_DIR=MODELS (or pass model='MODELS/{model}')."
    )


def check_model(task: str, model: str, load) -> object:
    """Call ``load()`` (a ``from_pretrained``); turn not-found/connection errors into a ``RuntimeError`` with a hint."""
    try:
        return load()
    except UNAVAILABLE as err:
        raise RuntimeError(model_hint(task, model) + f"\n(underlying error: {type(err).__name__}: {err})") from err

"""Download tasks on images: MNIST / Fashion-MNIST MLPs and a CIFAR-10 ResNet-18.

Images are kept as ``uint8`` (N, C, H, W) and normalised per batch with the
training split's per-channel mean and std. CIFAR-10 batches get the standard
augmentation (random 4-pixel-padded crop and horizontal flip), drawn from the
task's seeded per-step generator so augmented batches are deterministic too.

CIFAR-10 sources, in order: a ``cifar-10-batches-py`` folder under
``data_dir`` / ``$LROPT_DATA_DIR`` (read by torchvision if it imports, else by
:func:`read_cifar_batches`), a saved ``DatasetDict`` there, torchvision's
downloader, ``datasets.load_dataset("uoft-cs/cifar10")``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..array_task import Arrays, ArrayTask, epoch_batch_indices
from ..cache_dir import cache_dir
from ..device_cache import cached
from ..seeding import generator, seeded_module
from .resnet import CifarResNet18, torchvision_resnet18
from .sources import UNAVAILABLE, data_root, download_hint, is_saved_dataset, load_hf_dataset

SALT_AUGMENT = 0xA06


def import_torchvision():
    """torchvision, or ``None`` when it is missing or cannot import against this torch."""
    try:
        import torchvision

        return torchvision
    except Exception:  # a torchvision built for another torch raises RuntimeError/AttributeError, not ImportError
        return None


def hf_images(data, image_columns=("image", "img")) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_val, y_val)`` uint8 NCHW arrays from a DatasetDict with an image and a label column."""
    val_name = "test" if "test" in data else "validation"
    out = []
    for name in ("train", val_name):
        split = data[name]
        column = next((c for c in image_columns if c in split.column_names), None)
        if column is None or "label" not in split.column_names:
            raise ValueError(
                f"split {name!r} needs an image column {list(image_columns)} and 'label'; has {split.column_names}"
            )
        rows = split.select_columns([column, "label"]).with_format("numpy")[:]
        images = np.asarray(rows[column], dtype=np.uint8)
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        out += [images, np.asarray(rows["label"], dtype=np.int64)]
    return tuple(out)


def read_cifar_batches(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read the python-pickle CIFAR-10 release (``data_batch_*``, ``test_batch``) without torchvision."""

    def read(path):
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="bytes")
        labels = entry.get(b"labels", entry.get("labels"))
        data = entry.get(b"data", entry.get("data"))
        return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)

    train = [read(p) for p in sorted(folder.glob("data_batch_*"))]
    if not train or not (folder / "test_batch").is_file():
        raise FileNotFoundError(f"{folder} lacks data_batch_* or test_batch files")
    x_val, y_val = read(folder / "test_batch")
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_val, y_val


def torchvision_cifar(root: Path, download: bool):
    """CIFAR-10 through ``torchvision.datasets.CIFAR10`` (arrays as in :func:`read_cifar_batches`)."""
    tv = import_torchvision()
    splits = [tv.datasets.CIFAR10(str(root), train=t, download=download) for t in (True, False)]
    return tuple(a for s in splits for a in (s.data.transpose(0, 3, 1, 2).copy(), np.asarray(s.targets, np.int64)))


def load_cifar10(task: str, data_dir=None):
    """CIFAR-10 as uint8 NCHW arrays from the first source that has it (see the module doc)."""
    root = data_root(data_dir)
    if root is not None:
        for folder in (root, root / "cifar10"):
            if (folder / "cifar-10-batches-py").is_dir():
                if import_torchvision() is not None:
                    return torchvision_cifar(folder, download=False)
                return read_cifar_batches(folder / "cifar-10-batches-py")
            if folder.name == "cifar-10-batches-py" and folder.is_dir():
                return read_cifar_batches(folder)
        for folder in (root, root / "cifar10"):
            if is_saved_dataset(folder):
                return hf_images(load_hf_dataset(task, "uoft-cs/cifar10", "cifar10", folder))
        if data_dir is not None:
            raise FileNotFoundError(
                f"data_dir={str(data_dir)!r} holds neither cifar-10-batches-py/ nor a saved DatasetDict.\n"
                + download_hint(task, "uoft-cs/cifar10", "cifar10")
            )
    if import_torchvision() is not None:
        try:
            return torchvision_cifar(cache_dir("torchvision"), download=True)
        except UNAVAILABLE + (RuntimeError,):
            pass  # fall through to the Hugging Face hub
    return hf_images(load_hf_dataset(task, "uoft-cs/cifar10", "cifar10"))


@dataclass
class ImageTask(ArrayTask):
    """Image classification on uint8 arrays, normalised (and optionally augmented) per batch."""

    kind: str = "download"
    source: str = "mnist"
    hub_id: str = "ylecun/mnist"
    arch: str = "mlp"
    hidden: int = 256
    depth: int = 2
    augment: bool = False
    data_dir: str | None = None
    train_limit: int | None = None
    val_limit: int | None = None

    def load_arrays(self) -> Arrays:
        if self.source == "cifar10":
            x_tr, y_tr, x_va, y_va = load_cifar10(self.name, self.data_dir)
        else:
            x_tr, y_tr, x_va, y_va = hf_images(load_hf_dataset(self.name, self.hub_id, self.source, self.data_dir))
        x_tr, y_tr = x_tr[: self.train_limit], y_tr[: self.train_limit]
        x_va, y_va = x_va[: self.val_limit], y_va[: self.val_limit]
        return Arrays(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_tr, y_tr, x_va, y_va)))

    def _stats(self):
        """Per-channel mean and std of the training images (on the 0..1 scale), shaped (1, C, 1, 1)."""
        x = self.arrays("cpu").x_train.to(torch.float32) / 255.0
        return x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def normalise(self, images: Tensor) -> Tensor:
        mean, std = cached(self, "stats", images.device, self._stats)
        return (images.to(torch.float32) / 255.0 - mean) / std

    def train_batch(self, step: int, device=None):
        data = self.arrays(device)
        idx = epoch_batch_indices(len(data.y_train), self.batch_size, self.data_seed, step).to(data.y_train.device)
        images = self.normalise(data.x_train[idx])
        if self.augment:
            images = crop_flip(images, generator(self.data_seed, SALT_AUGMENT, step, device=images.device))
        return images, data.y_train[idx]

    def val_batches(self, device=None) -> list:
        def build():
            data, b = self.arrays("cpu"), self.val_batch_size
            return [
                (self.normalise(data.x_val[i : i + b]), data.y_val[i : i + b]) for i in range(0, len(data.y_val), b)
            ]

        return cached(self, "val", device, build)

    def init_model(self, seed: int) -> nn.Module:
        return seeded_module(self._build_model, seed)

    def _build_model(self) -> nn.Module:
        if self.arch == "mlp":
            layers, d = [nn.Flatten()], 28 * 28
            for _ in range(self.depth):
                layers += [nn.Linear(d, self.hidden), nn.ReLU()]
                d = self.hidden
            return nn.Sequential(*layers, nn.Linear(d, 10))
        use_tv = self.arch == "torchvision" or (self.arch == "auto" and import_torchvision() is not None)
        return torchvision_resnet18(10) if use_tv else CifarResNet18(10)


def crop_flip(images: Tensor, gen: torch.Generator, pad: int = 4) -> Tensor:
    """Random ``pad``-pixel-padded crops and horizontal flips, one draw per image."""
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=images.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    chan = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    crops = padded[batch, chan, rows, cols]
    flip = torch.rand(n, generator=gen, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], crops.flip(-1), crops)


def mnist_mlp(**params) -> ImageTask:
    """MNIST (60k/10k), 2x256 ReLU MLP."""
    defaults = dict(
        name="mnist-mlp",
        family="mnist",
        source="mnist",
        hub_id="ylecun/mnist",
        default_steps=1000,
        batch_size=128,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1},
        description="MNIST (60k/10k), 2x256 ReLU MLP",
    )
    return ImageTask(**{**defaults, **params})


def fashion_mnist_mlp(**params) -> ImageTask:
    """Fashion-MNIST (60k/10k), 2x256 ReLU MLP."""
    defaults = dict(
        name="fashion-mnist-mlp",
        family="mnist",
        source="fashion_mnist",
        hub_id="zalando-datasets/fashion_mnist",
        default_steps=1500,
        batch_size=128,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1},
        description="Fashion-MNIST (60k/10k), 2x256 ReLU MLP",
    )
    return ImageTask(**{**defaults, **params})


def cifar10_resnet18(**params) -> ImageTask:
    """CIFAR-10 (50k/10k), ResNet-18 (GroupNorm), crop+flip augmentation."""
    defaults = dict(
        name="cifar10-resnet18",
        family="cifar10",
        source="cifar10",
        hub_id="uoft-cs/cifar10",
        arch="auto",
        augment=True,
        default_steps=7800,
        batch_size=128,
        base_lrs={"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1},
        description="CIFAR-10 (50k/10k), ResNet-18 with GroupNorm, crop+flip augmentation",
    )
    return ImageTask(**{**defaults, **params})

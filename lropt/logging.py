"""TensorBoard tag scheme, custom-scalars layout, and reading logged runs back.

Tags (``i`` is the parameter-group index):

- ``lropt/lr/pg{i}``          effective learning rate
- ``lropt/multiplier/pg{i}``  controller multiplier (``lr / base_lr``)
- ``lropt/features/{name}``   each feature, for group 0
- ``lropt/skipped_steps``     base steps skipped on non-finite loss/gradients

The custom-scalars layout puts LR, multiplier and features on one page.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import features as F

LR_TAG = "lropt/lr/pg{}"
MULT_TAG = "lropt/multiplier/pg{}"
FEATURE_TAG = "lropt/features/{}"
SKIPPED_TAG = "lropt/skipped_steps"


def custom_scalars_layout() -> dict:
    """The layout passed to ``SummaryWriter.add_custom_scalars``."""
    return {
        "lropt": {
            "learning rate": ["Multiline", [r"lropt/lr/.*"]],
            "multiplier": ["Multiline", [r"lropt/multiplier/.*"]],
            "features": ["Multiline", [r"lropt/features/.*"]],
        }
    }


class TBLogger:
    """A thin SummaryWriter owner; created lazily so importing lropt never imports tensorboard."""

    def __init__(self, log_dir: str | os.PathLike):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.writer.add_custom_scalars(custom_scalars_layout())

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Write one row of scalars (``{tag: value}``, e.g. ``LROptimizerWrapper.scalars()``)."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


RUN_PREFIXES = ("lropt/", "compare/")  # wrapper runs, and `lropt compare` overlays


def read_scalars(run_dir: str | os.PathLike, prefix: str | tuple = RUN_PREFIXES) -> dict[str, list[tuple[int, float]]]:
    """All scalars under ``prefix`` (one or several) in the event files below ``run_dir``.

    Returns ``{tag: [(step, value), ...]}``; with several event folders (one per
    method in a comparison) each tag is prefixed with its folder.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {str(run_dir)!r} does not exist")
    event_dirs = sorted({p.parent for p in run_dir.rglob("events.out.tfevents.*")})
    if not event_dirs:
        raise ValueError(f"no TensorBoard event files under {str(run_dir)!r}")
    out: dict[str, list[tuple[int, float]]] = {}
    for d in event_dirs:
        acc = EventAccumulator(str(d), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            if tag.startswith(prefix):
                rows = [(e.step, e.value) for e in acc.Scalars(tag)]
                key = tag if len(event_dirs) == 1 else f"{d.relative_to(run_dir)}:{tag}"
                out.setdefault(key, []).extend(rows)
    return {k: sorted(v) for k, v in out.items()}


FEATURE_TAGS = tuple(FEATURE_TAG.format(n) for n in F.FEATURE_NAMES)

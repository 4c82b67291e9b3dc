"""Summaries and plots of logged runs (what ``lropt inspect`` shows)."""
from __future__ import annotations

import os
from pathlib import Path

from .logging import RUN_PREFIXES, read_scalars


def summarise_run(run_dir: str | os.PathLike, prefix=RUN_PREFIXES) -> list[dict]:
    """One row per logged tag: steps, first/min/max/last value."""
    scalars = read_scalars(run_dir, prefix)
    if not scalars:
        raise ValueError(f"no lropt scalars ({', '.join(RUN_PREFIXES)}) in the event files under {str(run_dir)!r}")
    rows = []
    for tag, points in sorted(scalars.items()):
        values = [v for _, v in points]
        rows.append(
            {
                "tag": tag,
                "points": len(points),
                "first_step": points[0][0],
                "last_step": points[-1][0],
                "first": values[0],
                "min": min(values),
                "max": max(values),
                "last": values[-1],
            }
        )
    return rows


def _is_lr_tag(tag: str) -> bool:
    return "lropt/lr/" in tag or tag.endswith("compare/lr")


def plot_run(run_dir: str | os.PathLike, png: str | os.PathLike) -> Path:
    """Plot the LR trajectories (log scale) of a run, or of every method of a comparison, into ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scalars = {t: v for t, v in read_scalars(run_dir).items() if _is_lr_tag(t)}
    if not scalars:
        raise ValueError(f"no LR trajectories in the event files under {str(run_dir)!r}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for tag, points in sorted(scalars.items()):
        steps, values = zip(*points)
        ax.plot(steps, values, label=tag)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(f"LR trajectory: {Path(run_dir).name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png

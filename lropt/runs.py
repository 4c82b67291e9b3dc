"""Summaries and plots of logged runs (what ``lropt inspect`` shows)."""
from __future__ import annotations

import os
from pathlib import Path

from .logging import read_scalars


def summarise_run(run_dir: str | os.PathLike, prefix: str = "lropt/") -> list[dict]:
    """One row per logged tag: steps, first/min/max/last value."""
    rows = []
    for tag, points in sorted(read_scalars(run_dir, prefix).items()):
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


def plot_run(run_dir: str | os.PathLike, png: str | os.PathLike, prefix: str = "lropt/lr/") -> Path:
    """Plot the LR trajectories (log scale) of a run into ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scalars = read_scalars(run_dir, prefix)
    if not scalars:
        raise ValueError(f"no scalars under {prefix!r} in {str(run_dir)!r}")
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

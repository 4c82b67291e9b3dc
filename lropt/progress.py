"""Rich progress displays for long jobs (meta-training, comparisons)."""
from __future__ import annotations

import contextlib

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextlib.contextmanager
def meta_progress(console, start: int = 0):
    """Yield ``update(step, total, meta_loss, val_score, inner_steps_per_s)`` driving a progress bar."""
    columns = (
        TextColumn("[bold]outer step"), MofNCompleteColumn(), BarColumn(),
        TextColumn("meta-loss {task.fields[loss]}"), TextColumn("val {task.fields[val]}"),
        TextColumn("{task.fields[rate]} inner steps/s"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("meta", total=None, completed=start, loss="-", val="-", rate="-")

        def update(step, total, loss, val, rate):
            progress.update(task, completed=step, total=total, loss=f"{loss:+.3f}",
                            val="-" if val is None else f"{val:+.3f}", rate=f"{rate:,.0f}")

        yield update


@contextlib.contextmanager
def compare_progress(console):
    """Yield ``update(done, total, label)``, the ``progress=`` callback of :func:`lropt.bench.compare.compare`."""
    columns = (
        TextColumn("[bold]runs"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("", total=None)

        def update(done: int, total: int, label: str) -> None:
            progress.update(bar, completed=done, total=total, description=label)

        yield update

"""Progress displays for long jobs (meta-training, comparisons).

On a terminal: a live rich progress bar. Anywhere else (a log file, ``nohup``, a batch scheduler,
CI), a live bar shows nothing until the job ends, so a plain line is printed instead at most every
``LINE_INTERVAL_S`` seconds, and once more at the end.
"""
from __future__ import annotations

import contextlib
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: Seconds between plain progress lines when the output is not a terminal.
LINE_INTERVAL_S = 30.0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class _Lines:
    """Throttled plain progress lines: ``emit(done, total, text)`` prints when ``interval`` has passed since
    the last line, or when ``done`` reaches ``total``; ``finish()`` prints the last state if it was held back."""

    def __init__(self, console, what: str, *, start: int = 0, interval: float = LINE_INTERVAL_S,
                 clock=time.monotonic):
        self.console, self.what, self.interval, self.clock = console, what, interval, clock
        self.first_done = start  # a resumed job starts part-way: its rate counts from there
        self.start = clock()
        self.printed_at = self.start
        self.pending: tuple | None = None

    def emit(self, done: int, total: int | None, text: str) -> None:
        now = self.clock()
        self.pending = (done, total, text)
        if now - self.printed_at >= self.interval or (total is not None and done >= total):
            self._print(now)

    def finish(self) -> None:
        if self.pending is not None:
            self._print(self.clock())

    def _print(self, now: float) -> None:
        done, total, text = self.pending
        elapsed = now - self.start
        head = f"{self.what} {done}" if total is None else f"{self.what} {done}/{total} ({100 * done / max(total, 1):.0f}%)"
        eta = ""
        fresh = done - self.first_done
        if total is not None and fresh > 0 and done < total:
            eta = f", ETA {_clock(elapsed / fresh * (total - done))}"
        self.console.print(f"{head}, {_clock(elapsed)} elapsed{eta}{': ' + text if text else ''}",
                           highlight=False, markup=False, soft_wrap=True)
        self.printed_at, self.pending = now, None


@contextlib.contextmanager
def meta_progress(console, start: int = 0):
    """Yield ``update(step, total, meta_loss, val_score, inner_steps_per_s)`` driving a progress display."""
    def fields(loss, val, rate):
        return f"{loss:+.3f}", "-" if val is None else f"{val:+.3f}", f"{rate:,.0f}"

    if not console.is_terminal:
        lines = _Lines(console, "outer step", start=start)

        def update(step, total, loss, val, rate):
            loss_s, val_s, rate_s = fields(loss, val, rate)
            lines.emit(step, total, f"meta-loss {loss_s}, val {val_s}, {rate_s} inner steps/s")

        try:
            yield update
        finally:
            lines.finish()   # the last state, also when the job stops with an error or Ctrl-C
        return
    columns = (
        TextColumn("[bold]outer step"), MofNCompleteColumn(), BarColumn(),
        TextColumn("meta-loss {task.fields[loss]}"), TextColumn("val {task.fields[val]}"),
        TextColumn("{task.fields[rate]} inner steps/s"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("meta", total=None, completed=start, loss="-", val="-", rate="-")

        def update(step, total, loss, val, rate):
            loss_s, val_s, rate_s = fields(loss, val, rate)
            progress.update(task, completed=step, total=total, loss=loss_s, val=val_s, rate=rate_s)

        yield update


@contextlib.contextmanager
def compare_progress(console):
    """Yield ``update(done, total, label)``, the ``progress=`` callback of :func:`lropt.bench.compare.compare`."""
    if not console.is_terminal:
        lines = _Lines(console, "runs")
        try:
            yield lines.emit
        finally:
            lines.finish()
        return
    columns = (
        TextColumn("[bold]runs"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("", total=None)

        def update(done: int, total: int, label: str) -> None:
            progress.update(bar, completed=done, total=total, description=label)

        yield update

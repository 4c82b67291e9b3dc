"""Several ``lropt compare`` results files read as one: the tools that count across runs start here."""
from __future__ import annotations

import math
from collections.abc import Iterable

#: What must agree across the files for their tasks to be judged alike.
SAME_META: tuple[str, ...] = ("rel_tol", "optimizer", "seeds")


def merge_tasks(runs: list[tuple[str, dict]], *, regimes: Iterable[str], same: Iterable[str] = SAME_META) -> dict:
    """The tasks of several results files as one dict.

    ``runs`` holds (name, parsed results.json) pairs. A file that is not a results file, that lacks one of
    ``regimes``, holds a task another file holds too, or differs from the first file in a ``same`` field, is
    named in a ``ValueError``.
    """
    need, same = set(regimes), tuple(same)
    tasks: dict = {}
    first: tuple[str, dict] | None = None
    for name, run in runs:
        if not isinstance(run, dict) or "tasks" not in run or "meta" not in run:
            raise ValueError(f"{name} is not a results.json of lropt compare (no 'tasks' and 'meta')")
        meta = run["meta"]
        if not need <= set(meta.get("regimes", ())):
            raise ValueError(f"{name} ran the {' and '.join(meta.get('regimes', ())) or '?'} regime, this table needs "
                             f"{' and '.join(sorted(need))}: run lropt compare --regime "
                             f"{'both' if len(need) > 1 else next(iter(need))}")
        first = first or (name, meta)
        for key in same:
            if meta.get(key) != first[1].get(key):
                raise ValueError(f"{name} has {key}={meta.get(key)!r}, {first[0]} {first[1].get(key)!r}: "
                                 "counted together, their tasks would be judged differently")
        for task, entry in run["tasks"].items():
            if task in tasks:
                raise ValueError(f"task {task!r} is in more than one results file (again in {name})")
            tasks[task] = entry
    return tasks


def cell_loss(cell: dict, key: str) -> float:
    """A cell's median loss ``key`` (``final_val_loss``, ``best_val_loss``), infinite where its median run
    diverged (``null`` in results.json); a file without the key is named."""
    if key not in cell:
        raise ValueError(f"a {cell.get('method', '?')} cell at x{cell.get('lr_factor', '?')} has no {key!r}: "
                         "a results.json from an older lropt compare?")
    value = cell[key]
    return value if value is not None and math.isfinite(value) else math.inf

"""MEASURING.md's robustness check over several `lropt compare` runs: every method with its base LR off by 10x
from its tuned value, its final loss relative to tuned.

Run ``lropt compare --regime tuned --lr-factors 0.1,1,10`` (or ``--regime both``): each baseline's LR is tuned
on a grid, then every method runs at that LR times each factor. lropt is never tuned, so its factors are
relative to the optimizer's default LR; its x0.1 and x10 are the same mistake, a base LR off by 10x, made
without the tuning.

Two readings per (method, factor), over tasks:

- ``vs own x1``: the final validation loss relative to the same method at x1 (MEASURING.md's wording: what
  mis-setting the LR costs that method); a task where that method's x1 diverged has no such ratio and is
  left out of this median (``own_tasks`` counts the tasks behind it);
- ``vs tuned best``: relative to the lowest median final validation loss of any tuned baseline at x1 on that
  task (what it costs against the user who tuned the best method); ``within`` counts the tasks where it is
  at most ``rel_tol`` above (the ``lropt compare`` tolerance, 1% by default).

A median final loss that is not finite (the median run diverged) counts as infinitely worse; ``--out``
writes such a ratio as ``null``, as ``results.json`` does.

Usage::

    python tools/robustness_table.py RUN1/results.json [RUN2/results.json ...] [--out robustness.json]

Prints the per-task reference, then one row per method: the median and worst ratio per factor, the tasks
within the tolerance, and the diverged runs.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from lropt.bench.report import jsonable
from lropt.bench.results_files import SAME_META, cell_loss, merge_tasks
from lropt.bench.runner import LROPT
from lropt.bench.stats import median

REGIME = "tuned"


def _final(cell: dict) -> float:
    return cell_loss(cell, "final_val_loss")


def _ratio(a: float, b: float) -> float | None:
    """``a / b``: infinite for a diverged ``a``; ``None`` where ``b`` diverged or is 0 (nothing to be relative to)."""
    if not math.isfinite(b) or b <= 0:
        return None
    return a / b if math.isfinite(a) else math.inf


def task_reference(task: dict) -> dict:
    """The tuned baseline with the lowest median final validation loss at x1: the tuned best."""
    pool = [c for c in task["cells"] if c["regime"] == REGIME and c["lr_factor"] == 1.0 and c["method"] != LROPT]
    if not pool:
        raise ValueError(f"task {task['name']!r} has no tuned baseline at x1: run lropt compare with 1 among "
                         "--lr-factors")
    best = min(pool, key=lambda c: (_final(c), c["method"]))
    if not math.isfinite(_final(best)):
        raise ValueError(f"task {task['name']!r}: every tuned baseline diverged at x1, nothing to be relative to")
    if _final(best) <= 0:
        raise ValueError(f"task {task['name']!r}: the tuned {best['method']} ends at a validation loss of "
                         f"{_final(best)} at x1, so losses relative to it are undefined")
    return {"method": best["method"], "base_lr": best["base_lr"], "final_val_loss": _final(best)}


def robustness_table(tasks: dict, rel_tol: float = 0.01) -> dict:
    """Per task, its reference and each (method, factor) ratio; per (method, factor), the medians over tasks."""
    per_task, rows = {}, {}
    for name, task in tasks.items():
        ref = task_reference(task)
        own = {c["method"]: _final(c) for c in task["cells"] if c["regime"] == REGIME and c["lr_factor"] == 1.0}
        entries = []
        for c in task["cells"]:
            if c["regime"] != REGIME:
                continue
            entry = {"method": c["method"], "lr_factor": c["lr_factor"], "base_lr": c["base_lr"],
                     "final_val_loss": _final(c), "vs_tuned_best": _ratio(_final(c), ref["final_val_loss"]),
                     "vs_own_x1": _ratio(_final(c), own[c["method"]]),
                     "divergences": c["divergences"], "runs": len(c["seeds"])}
            entries.append(entry)
            rows.setdefault((c["method"], c["lr_factor"]), []).append(entry)
        per_task[name] = {"reference": ref, "cells": entries}
    methods = {}
    for (method, factor), entries in sorted(rows.items()):
        best = [e["vs_tuned_best"] for e in entries]
        own = [e["vs_own_x1"] for e in entries if e["vs_own_x1"] is not None]
        methods.setdefault(method, {})[str(factor)] = {
            "tasks": len(entries), "median_vs_tuned_best": median(best), "worst_vs_tuned_best": max(best),
            "within": sum(r <= 1 + rel_tol for r in best), "median_vs_own_x1": median(own) if own else None,
            "own_tasks": len(own),
            "divergences": sum(e["divergences"] for e in entries), "runs": sum(e["runs"] for e in entries)}
    return {"tasks": per_task, "methods": methods, "rel_tol": rel_tol, "regime": REGIME}


def _r(x) -> str:
    return "-" if x is None else ("div" if not math.isfinite(x) else f"{x:.3f}")


def _print(result: dict) -> None:
    print(f"{'task':20s} {'tuned best':14s} {'its LR':>9s} {'final loss':>10s}")
    for name, t in result["tasks"].items():
        ref = t["reference"]
        print(f"{name:20s} {ref['method']:14s} {ref['base_lr']:9.3g} {ref['final_val_loss']:10.4f}")
    methods = sorted(result["methods"], key=lambda m: (m != LROPT, m))
    factors = sorted({float(f) for m in methods for f in result["methods"][m]})
    print(f"\nfinal validation loss relative to the tuned best at x1 (median over tasks / worst task; within: tasks "
          f"at most {100 * result['rel_tol']:g}% above it; div: diverged runs); own: the median relative to the "
          "method's own x1 (*: over fewer tasks, where its own x1 diverged). lropt's factors are off the default "
          "LR, never tuned.\n")
    print(f"{'method':14s} " + " ".join(f"{'x' + format(f, 'g'):>34s}" for f in factors))
    print(f"{'':14s} " + " ".join(f"{'median / worst  within  div   own':>34s}" for _ in factors))
    for m in methods:
        cells = []
        for f in factors:
            row = result["methods"][m].get(str(f))
            cells.append("" if row is None else
                         f"{_r(row['median_vs_tuned_best']):>7s} / {_r(row['worst_vs_tuned_best']):>6s} "
                         f"{row['within']:>3}/{row['tasks']:<3} {row['divergences']:>3} "
                         f"{_r(row['median_vs_own_x1']) + ('*' if row['own_tasks'] < row['tasks'] else ''):>6s}")
        print(f"{m:14s} " + " ".join(f"{c:>34s}" for c in cells))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", type=Path, nargs="+", metavar="RESULTS",
                   help="results.json of lropt compare --regime tuned (or both) --lr-factors 0.1,1,10")
    p.add_argument("--out", type=Path, help="write the per-task entries and the totals as JSON here")
    args = p.parse_args(argv)
    try:
        runs = [(str(path), json.loads(path.read_text())) for path in args.paths]
        tasks = merge_tasks(runs, regimes=(REGIME,), same=(*SAME_META, "lr_factors"))
        result = robustness_table(tasks, rel_tol=runs[0][1]["meta"].get("rel_tol", 0.01))
    except (OSError, ValueError) as exc:
        p.error(str(exc))
    _print(result)
    if args.out:
        args.out.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False))  # a diverged ratio: null
    return 0


if __name__ == "__main__":
    sys.exit(main())

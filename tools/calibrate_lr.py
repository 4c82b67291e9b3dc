"""Is each meta-training family's default base LR the tuned optimum of a constant LR?

For every task entry of a recipe's ``train`` list (and any named tasks given
with ``--tasks``), sample a few tasks, train each with Adam at a constant LR of
``factor * task.base_lr("adam")`` for every factor of a grid, and report the
factor with the lowest final validation loss (diverged runs count as worst).

Why it matters: meta-training draws base LRs around each task's default. If the
defaults sit below the optimum, "raise the LR" pays on average whatever the
features say, and the controller learns an open-loop climb instead of feedback.

    python tools/calibrate_lr.py --recipe lropt/recipes/validation_objective.toml --draws 3 --steps 300
    python tools/calibrate_lr.py --tasks digits-mlp,titanic --draws 1 --out runs/calib.json

Prints a table and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np


def _entries(recipe_path: str | None, tasks: str | None) -> list:
    from lropt.meta.recipe import load_recipe

    entries = list(load_recipe(recipe_path).tasks.train) if recipe_path else []
    entries += [{"task": t} for t in (tasks or "").split(",") if t]
    return entries


def _label(entry) -> str:
    if isinstance(entry, str):
        return entry
    return ",".join(f"{k}={v}" for k, v in entry.items())


def calibrate(entry, *, draws: int, steps: int | None, factors: list[float], seed: int) -> dict:
    """Best constant-LR factor of each of ``draws`` tasks drawn from ``entry``."""
    from lropt.bench.runner import run_method
    from lropt.meta.trainer import family_from_entry

    family = family_from_entry(entry)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(draws):
        task = family.sample(rng)
        n = steps or task.default_steps
        losses = []
        for f in factors:
            r = run_method(task, "constant", base_lr=f * task.base_lr("adam"), steps=n, seed=0,
                           optimizer="adam", eval_every=max(n // 10, 1))
            final = r.val_loss[-1] if r.val_loss and not r.diverged else math.inf
            losses.append(final if math.isfinite(final) else math.inf)
        best = int(np.argmin(losses))
        rows.append({"task": task.name, "base_lr": task.base_lr("adam"), "steps": n,
                     "final_val_loss": losses, "best_factor": factors[best]})
    logs = [math.log10(r["best_factor"]) for r in rows]
    return {"entry": _label(entry), "draws": rows, "median_best_factor": 10 ** float(np.median(logs))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default=None, help="recipe whose train entries to calibrate")
    p.add_argument("--tasks", default=None, help="comma-separated named tasks to add")
    p.add_argument("--draws", type=int, default=3, help="tasks drawn per entry")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: each task's default_steps)")
    p.add_argument("--factors", default="0.1,0.3,1,3,10", help="LR factors of the grid")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="calibrate_lr.json")
    args = p.parse_args(argv)
    if not args.recipe and not args.tasks:
        p.error("give --recipe, --tasks or both")

    import torch
    from rich.console import Console
    from rich.table import Table

    torch.set_num_threads(args.threads)
    factors = [float(x) for x in args.factors.split(",")]
    start = time.perf_counter()
    results = []
    for entry in _entries(args.recipe, args.tasks):
        results.append(calibrate(entry, draws=args.draws, steps=args.steps, factors=factors, seed=0))
        print(f"{results[-1]['entry']}: best factors {[d['best_factor'] for d in results[-1]['draws']]}", flush=True)

    table = Table(title=f"Best constant-LR factor (Adam), grid {factors}")
    for col in ("entry", "draws", "best factors", "median"):
        table.add_column(col)
    for r in results:
        table.add_row(r["entry"], str(len(r["draws"])), " ".join(f"{d['best_factor']:g}" for d in r["draws"]),
                      f"{r['median_best_factor']:.3g}")
    Console().print(table)
    out = {"args": vars(args), "wall_s": time.perf_counter() - start, "results": results}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"wrote {args.out} ({out['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

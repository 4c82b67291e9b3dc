"""Ablation: what the controller's validation input does, by not calling ``observe()``.

For each task and base-LR factor, runs lropt as ``lropt compare`` does (which
feeds every evaluation to ``observe(val_loss=...)``) and again without
``observe``, next to the classic schedules, and reports each lropt variant's
final validation loss relative to the best classic schedule of the cell.

Usage::

    python tools/ablate_observe.py [--tasks digits-mlp,titanic] [--seeds 3] [--controller default]
        [--lr-factors 0.1,1,10] [--out ablate_observe.json]

Prints a table last and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import torch

from lropt.bench import runner
from lropt.bench.summary import HEADLINE_SET
from lropt.tasks import get_task


def final_losses(task, method, lr, steps, seeds, controller, observe=True) -> list[float]:
    runs = [runner.run_method(task, method, base_lr=lr, steps=steps, seed=s, controller=controller,
                              eval_every=max(1, steps // 25), observe_val=observe) for s in range(seeds)]
    return [math.inf if r.diverged else r.val_loss[-1] for r in runs]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="digits-mlp,titanic,digits-cnn,foodreviews-bow")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--controller", default="default")
    p.add_argument("--lr-factors", default="0.1,1,10")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="ablate_observe.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.tasks.split(","):
        task = get_task(name)
        for f in map(float, args.lr_factors.split(",")):
            lr, steps = task.base_lr("adamw") * f, task.default_steps
            classic = {m: float(np.mean(final_losses(task, m, lr, steps, args.seeds, None))) for m in HEADLINE_SET}
            best = min(classic.values())
            with_obs = float(np.mean(final_losses(task, "lropt", lr, steps, args.seeds, args.controller)))
            without = float(np.mean(final_losses(task, "lropt", lr, steps, args.seeds, args.controller, False)))
            rows.append({"task": name, "lr_factor": f, "best_classic": best, "lropt_observe": with_obs,
                         "lropt_no_observe": without, "rel_observe": with_obs / best - 1,
                         "rel_no_observe": without / best - 1})
            print(f"  {name} x{f:g}: observe {rows[-1]['rel_observe']:+.1%}, no observe {rows[-1]['rel_no_observe']:+.1%}",
                  flush=True)
    with open(args.out, "w") as fh:
        json.dump({"command": " ".join(["python"] + sys.argv), "seeds": args.seeds, "results": rows}, fh, indent=2)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"lropt with and without observe(val_loss) — {args.controller}, {args.seeds} seeds, "
                        "final val loss vs best classic schedule", title_justify="left")
    for col in ("task", "LR x", "best classic", "with observe", "without observe"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for r in rows:
        table.add_row(r["task"], f"{r['lr_factor']:g}", f"{r['best_classic']:.4f}", f"{r['rel_observe']:+.1%}",
                      f"{r['rel_no_observe']:+.1%}")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

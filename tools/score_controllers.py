"""Score controller files on a recipe's validation tasks, at several validation horizons.

The same score meta-training selects on (:class:`lropt.meta.evaluate.Validator`):
the mean, over the recipe's validation tasks and 0.1x/1x/10x base LRs, of the
capped log-ratio of final validation loss against a constant LR (negative is
better), and the same against cosine. Each (controller, horizon) pair runs in
its own process.

Usage::

    python tools/score_controllers.py CONTROLLER [CONTROLLER ...] [--recipe lropt/recipes/shipped.toml]
        [--horizons 300,1000,3000] [--jobs N] [--out score_controllers.json]

Prints a table last and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys


def score(job: tuple) -> dict:
    import torch

    from lropt.controller_file import resolve_controller
    from lropt.meta.recipe import load_recipe
    from lropt.meta.trainer import MetaTrainer

    path, horizon, recipe = job
    torch.set_num_threads(1)
    trainer = MetaTrainer(load_recipe(recipe, [f"outer.eval_horizon={horizon}"]), seed=0)
    result = trainer.validator.score(resolve_controller(path).eval())
    return {"controller": path, "horizon": horizon, "score_vs_constant": result["score"],
            "score_vs_cosine": result["vs_cosine"], "cells": result["cells"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("controllers", nargs="+", help="controller files or shipped names (default, identity)")
    p.add_argument("--recipe", default="lropt/recipes/shipped.toml")
    p.add_argument("--horizons", default="300,1000,3000")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: one per row, at most the CPUs)")
    p.add_argument("--out", default="score_controllers.json")
    args = p.parse_args(argv)
    jobs = [(c, int(h), args.recipe) for c in args.controllers for h in args.horizons.split(",")]
    with mp.get_context("spawn").Pool(min(args.jobs or mp.cpu_count(), len(jobs))) as pool:
        rows = pool.map(score, jobs)
    with open(args.out, "w") as f:
        json.dump({"command": " ".join(["python"] + sys.argv), "recipe": args.recipe, "results": rows}, f, indent=2)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"validation score of controllers ({args.recipe}; negative is better)", title_justify="left")
    for col in ("controller", "horizon", "vs constant", "vs cosine"):
        table.add_column(col, justify="left" if col == "controller" else "right")
    for r in rows:
        table.add_row(r["controller"], str(r["horizon"]), f"{r['score_vs_constant']:+.3f}", f"{r['score_vs_cosine']:+.3f}")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure the real offline tasks: seconds per 100 training steps and the validation metric of plain Adam.

Each task trains from ``init_model(seed)`` for its ``default_steps`` with
``torch.optim.Adam`` at the task's base LR (``task.base_lr("adam")``), then
is evaluated on its validation split. Data loading (and the one-off
tokenisation) happens before the clock starts. Prints a table and writes JSON.

    python tools/measure_tasks.py                     # every offline task
    python tools/measure_tasks.py --tasks wine titanic --threads 1 --out runs/m.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from lropt.tasks import forward, get_task, list_tasks


def measure(name: str, seed: int, steps: int | None) -> dict:
    """Train ``name`` with plain Adam for its default steps; time it and evaluate."""
    task = get_task(name)
    steps = steps or task.default_steps
    task.train_batch(0)  # load (and tokenise) before timing
    task.val_batches()
    torch.manual_seed(seed)
    model = task.init_model(seed)
    lr = task.base_lr("adam")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    first = last = None
    for step in range(steps):
        inputs, targets = task.train_batch(step)
        loss = task.loss(forward(model, inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        first = value if first is None else first
        last = value
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    result = task.evaluate(model)
    eval_s = time.perf_counter() - start
    return {
        "task": name,
        "steps": steps,
        "batch_size": task.batch_size,
        "adam_lr": lr,
        "s_per_100_steps": 100.0 * train_s / steps,
        "train_s": train_s,
        "eval_s": eval_s,
        "first_loss": first,
        "last_loss": last,
        "val_loss": result["val_loss"],
        "metric": task.metric_name,
        "val_metric": result.get(f"val_{task.metric_name}"),
    }


def main() -> None:
    offline = [r["name"] for r in list_tasks() if r["kind"] == "offline"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=offline, help="task names (default: every offline task)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="override every task's default steps")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default="runs/measure_tasks.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    print(
        f"{'task':22} {'steps':>5} {'batch':>5} {'adam lr':>8} {'s/100 steps':>11} {'eval s':>7} "
        f"{'loss first->last':>18} {'val loss':>8} {'val metric':>14}"
    )
    for name in args.tasks:
        r = measure(name, args.seed, args.steps)
        rows.append(r)
        metric = f"{r['metric']}={r['val_metric']:.4f}" if r["val_metric"] is not None else "-"
        print(
            f"{name:22} {r['steps']:>5} {r['batch_size']:>5} {r['adam_lr']:>8.0e} {r['s_per_100_steps']:>11.3f} "
            f"{r['eval_s']:>7.2f} {r['first_loss']:>8.3f}->{r['last_loss']:<8.3f} {r['val_loss']:>8.4f} {metric:>14}",
            flush=True,
        )
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "seed": args.seed,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Soak the wrapper: a long run with the default controller, with injected bad steps.

    python tools/soak.py [--steps 100000] [--out soak.json]

Trains a small MLP on a noisy regression stream. Every 997th step the loss is
NaN, every 1009th the gradients are inf, and every 5003rd the loss is 1e6×.
It records, every `--report` steps, the smallest and largest effective LR
and multiplier seen so far and the process's resident memory. It checks that
the LR stays finite, positive and within the controller's bounds, and that
memory stays flat. It prints a table and writes JSON.
"""
import argparse
import json
import math
import resource
import time

import torch
from rich.console import Console
from rich.table import Table

from lropt import LROptimizerWrapper


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--report", type=int, default=10_000)
    ap.add_argument("--controller", default="default")
    ap.add_argument("--out", default="soak.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3), controller=args.controller,
                             total_steps=args.steps)
    bound = math.exp(opt.controller.config["max_log_mult"])
    w = torch.randn(16, 1)
    lo, hi, rows, bad = math.inf, 0.0, [], 0
    start, t0 = rss_mib(), time.perf_counter()
    for step in range(1, args.steps + 1):
        x = torch.randn(32, 16)
        loss = ((model(x) - (x @ w + 0.3 * torch.randn(32, 1))) ** 2).mean()
        loss.backward()
        if step % 1009 == 0:
            for p in model.parameters():
                p.grad.fill_(float("inf"))
        fed = loss.detach() * 1e6 if step % 5003 == 0 else loss.detach()
        opt.step(loss=torch.tensor(float("nan")) if step % 997 == 0 else fed)
        opt.zero_grad()
        if any(not torch.isfinite(p).all() for p in model.parameters()):  # inf grads poison AdamW itself
            bad += 1
            with torch.no_grad():
                for p in model.parameters():
                    torch.nan_to_num_(p, nan=0.0, posinf=0.0, neginf=0.0)
            opt.optimizer.state.clear()
        lr = opt.get_last_lr()[0]
        lo, hi = min(lo, lr), max(hi, lr)
        if step % args.report == 0:
            rows.append({"step": step, "lr_now": lr, "lr_min": lo, "lr_max": hi, "mult_min": lo / 1e-3, "mult_max": hi / 1e-3,
                         "rss_mib": rss_mib(), "seconds": time.perf_counter() - t0, "loss": float(loss.detach())})
    ok_bounds = math.isfinite(lo) and lo > 0 and hi / 1e-3 <= bound * (1 + 1e-6) and lo / 1e-3 >= 1 / bound / (1 + 1e-6)
    result = {"command": "python tools/soak.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
              "steps": args.steps, "rss_start_mib": start, "rss_end_mib": rss_mib(), "lr_bounds_ok": ok_bounds,
              "multiplier_bound": bound, "model_resets_after_inf_grads": bad, "rows": rows,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": torch.__version__}
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    table = Table(title=f"lropt soak: {args.steps:,} steps, controller={args.controller}, torch {torch.__version__}")
    for col in ("step", "mult now", "LR min", "LR max", "mult min", "mult max", "RSS MiB", "s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['step']:,}", f"{r['lr_now'] / 1e-3:.3g}", f"{r['lr_min']:.3g}", f"{r['lr_max']:.3g}", f"{r['mult_min']:.3g}",
                      f"{r['mult_max']:.3g}", f"{r['rss_mib']:.1f}", f"{r['seconds']:.0f}")
    Console().print(table)
    print(f"LR within bounds: {ok_bounds}; RSS {start:.1f} -> {result['rss_end_mib']:.1f} MiB; wrote {args.out}")


if __name__ == "__main__":
    main()

"""Meta-training throughput: inner steps/s and tasks/s of the default recipe's truncations.

For each task family of the recipe (one at a time, so the numbers do not depend
on which family the sampler happened to draw), each estimator (``pes``,
``tbptt``) and each number of runs advanced together under ``torch.func.vmap``
(``inner.runs_per_group``, one group), this builds a :class:`MetaTrainer`,
runs ``--warmup`` outer steps, then times ``--steps`` calls of
``outer_step()`` (each bracketed by a device sync; validation is never run).

- inner steps/s = sum over timed outer steps of (runs x inner steps taken) / time;
- tasks/s = inner steps/s / the recipe's mean inner horizon (horizons are
  log-uniform in ``[horizon_min, horizon_max]``): whole inner training runs per
  second at that rate;
- on CUDA, memory per task = ``torch.cuda.max_memory_allocated`` over the timed
  steps / runs.

PES needs antithetic pairs, so its "1 run" row uses 2 runs (the row says so).
Group refreshes (sampling a task, initialising its models) happen inside
``outer_step`` and are part of the cost. The DESIGN's eager prototype is the
reference to beat (2 CPU cores: 387 / 1,653 / 2,937 inner steps/s at 1 / 8 /
64 tasks).

Usage::

    python tools/bench_meta.py [--device cpu|cuda] [--runs 1,8,64] [--estimators pes,tbptt]
        [--families teacher_mlp,quadratic] [--steps 10] [--warmup 3] [--threads N]
        [--recipe PATH] [--set key=value ...] [--quick] [--out bench_meta.json]

Prints a table last and writes JSON.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import statistics
import sys
import time

import torch

from lropt import __version__ as lropt_version
from lropt.meta.recipe import load_recipe
from lropt.meta.trainer import MetaTrainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def family_label(entry) -> str:
    if isinstance(entry, str):
        return entry
    return str(entry.get("family") or entry.get("task") or entry)


def mean_horizon(lo: int, hi: int) -> float:
    """Mean of a log-uniform horizon on ``[lo, hi]`` (the trainer's draw, before rounding)."""
    return float(lo) if lo == hi else (hi - lo) / math.log(hi / lo)


def _error_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines() or [""]
    return f"{type(exc).__name__}: {lines[0][:300]}"


def measure(args, entry, estimator: str, runs: int, device: torch.device) -> dict:
    """One table row: build a trainer for ``entry`` with ``runs`` vmapped runs, warm up, time outer steps."""
    used = 2 if estimator == "pes" and runs == 1 else runs
    row = {"family": family_label(entry), "estimator": estimator, "runs": used, "requested_runs": runs,
           "error": None}
    try:
        overrides = list(args.set) + [f"inner.runs_per_group={used}", "inner.groups=1", f"estimator.name={estimator}"]
        recipe = load_recipe(args.recipe, overrides)
        recipe.tasks.train, recipe.tasks.train_weights = [entry], []
        recipe.validate()
        trainer = MetaTrainer(recipe, seed=args.seed, device=device)
        for _ in range(args.warmup):
            trainer.outer_step()
        _sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times, inner = [], 0
        for _ in range(args.steps):
            t0 = time.perf_counter()
            out = trainer.outer_step()
            _sync(device)
            times.append(time.perf_counter() - t0)
            inner += out["inner_steps"]
        total = sum(times)
        horizon = mean_horizon(recipe.inner.horizon_min, recipe.inner.horizon_max)
        row.update(
            task=trainer.groups[0].task.name if trainer.groups[0] is not None else None,
            outer_steps=len(times), inner_steps=inner, seconds=total,
            inner_steps_per_s=inner / total, tasks_per_s=inner / total / horizon, mean_horizon=horizon,
            outer_steps_per_s=len(times) / total, median_outer_step_ms=1e3 * statistics.median(times),
            truncation=[recipe.inner.truncation_min, recipe.inner.truncation_max],
        )
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device)
            row.update(peak_mem_mib=peak / 2**20, mem_per_task_mib=peak / 2**20 / used)
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory at 1024 runs: record and go on
        row["error"] = _error_text(exc)
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def machine_info(device: torch.device) -> dict:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                name = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), name)
        except OSError:
            pass
    return {"device": str(device), "device_name": name, "torch": torch.__version__, "lropt": lropt_version,
            "python": platform.python_version(), "platform": platform.platform(), "threads": torch.get_num_threads(),
            "cuda": torch.version.cuda,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m, c = report["machine"], report["config"]
    title = (f"lropt meta-training throughput — {m['device_name']} ({m['device']}), torch {m['torch']}, "
             f"lropt {m['lropt']}, {m['threads']} threads, {m['date']}")
    caption = (f"recipe {c['recipe']}, groups=1, {c['warmup']} warm-up + {c['steps']} timed outer steps per row; "
               f"tasks/s = inner steps/s / mean horizon ({c['mean_horizon']:.0f}); validation excluded")
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    cuda = m["device"].startswith("cuda")
    cols = ["family", "estimator", "runs", "inner steps/s", "tasks/s", "ms/outer step"]
    cols += ["MiB/task", "peak MiB"] if cuda else []
    for col in cols + ["error"]:
        table.add_column(col, justify="left" if col in ("family", "estimator", "error") else "right")
    for r in report["results"]:
        runs = f"{r['runs']}" + (f" (for {r['requested_runs']})" if r["runs"] != r["requested_runs"] else "")
        if r["error"]:
            table.add_row(r["family"], r["estimator"], runs, *["-"] * (len(cols) - 3), f"[red]{r['error']}[/red]")
            continue
        cells = [f"{r['inner_steps_per_s']:,.0f}", f"{r['tasks_per_s']:.2f}", f"{r['median_outer_step_ms']:.1f}"]
        if cuda:
            cells += [f"{r['mem_per_task_mib']:.2f}", f"{r['peak_mem_mib']:.0f}"]
        table.add_row(r["family"], r["estimator"], runs, *cells, "")
    Console(width=200).print(table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", default=None, help="recipe TOML (default: the embedded default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--runs", default=None, help="comma list (default 1,8,64; on CUDA also 256,1024)")
    parser.add_argument("--estimators", default="pes,tbptt")
    parser.add_argument("--families", default=None, help="comma list (default: each of the recipe's tasks.train)")
    parser.add_argument("--steps", type=int, default=10, help="timed outer steps per row")
    parser.add_argument("--warmup", type=int, default=3, help="untimed outer steps per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 1 family, runs 1 and 8, 1+2 outer steps")
    parser.add_argument("--out", default="bench_meta.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        args.runs, args.warmup, args.steps = args.runs or "1,8", 1, 2
        args.threads = args.threads or 1  # a smoke test must not hinge on thread contention
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [int(x) for x in (args.runs or ("1,8,64,256,1024" if device.type == "cuda" else "1,8,64")).split(",")]
    base = load_recipe(args.recipe, args.set)
    entries = base.tasks.train
    if args.families:
        entries = [e for name in args.families.split(",") for e in (
            [x for x in base.tasks.train if family_label(x) == name] or [name])]
    if args.quick:
        entries = entries[:1]

    report = {"machine": machine_info(device), "config": {
        "recipe": args.recipe or "default (embedded)", "overrides": args.set, "runs": runs,
        "estimators": args.estimators.split(","), "families": [family_label(e) for e in entries],
        "warmup": args.warmup, "steps": args.steps, "seed": args.seed, "quick": args.quick,
        "mean_horizon": mean_horizon(base.inner.horizon_min, base.inner.horizon_max),
        "command": " ".join(["python"] + sys.argv)}, "results": []}
    for entry in entries:
        for est in args.estimators.split(","):
            for n in runs:
                row = measure(args, entry, est, n, device)
                report["results"].append(row)
                rate = "" if row["error"] else f"{row['inner_steps_per_s']:,.0f} inner steps/s"
                print(f"  {row['family']:>14s} {est:>6s} {row['runs']:>5d} runs  {rate or row['error']}", flush=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Distributed meta-training throughput: 1 vs N processes (torchrun) on the same total task batch.

For each process count in ``--nprocs`` this launches
``torchrun --standalone --nproc_per_node N`` on this script's worker mode. Each
worker joins the process group the way ``lropt meta-train`` does
(:func:`lropt.meta.distributed.init_from_env`: NCCL on CUDA, gloo on the CPU),
builds a :class:`MetaTrainer` for the recipe (``inner.groups`` is the *total*
task batch, shared out among the ranks), runs ``--warmup`` outer steps, then
times ``--steps`` outer steps (device-synchronised). Rank 0 reports inner
steps/s and the final controller weights, so the table also shows how far the
N-process controller is from the 1-process one (float reduction order only).

Usage::

    python tools/bench_meta_dist.py [--device cuda|cpu] [--nprocs 1,2] [--recipe PATH] [--set k=v ...]
        [--steps 10] [--warmup 3] [--quick] [--out bench_meta_dist.json]

Prints a table last and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_meta import machine_info  # noqa: E402


def worker(args) -> None:
    from lropt.meta import distributed
    from lropt.meta.recipe import load_recipe
    from lropt.meta.trainer import MetaTrainer

    shard, device = distributed.init_from_env(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    try:
        trainer = MetaTrainer(load_recipe(args.recipe, args.set), seed=0, device=dev, shard=shard)
        for _ in range(args.warmup):
            trainer.outer_step()
        sync()
        inner, t0 = 0, time.perf_counter()
        for _ in range(args.steps):
            inner += trainer.outer_step()["inner_steps"]
        sync()
        seconds = time.perf_counter() - t0
        if shard.is_main:
            torch.save({"seconds": seconds, "inner_steps": inner, "world_size": shard.world_size,
                        "groups": trainer.recipe.inner.groups, "controller": trainer.controller.state_dict(),
                        "machine": machine_info(dev)}, args.worker)
        distributed.barrier(shard)
    except BaseException:
        distributed.shutdown()
        raise
    # Every rank is done and the result is written. Leave without running gloo's teardown: under
    # torch 2.13 it aborts a rank now and then ("terminate called without an active exception",
    # exit -6, about 1 run in 12 here), which would fail a finished measurement.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def launch(args, nproc: int, result: Path) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           __file__, "--worker", str(result), "--device", args.device, "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    cmd += ["--recipe", args.recipe] if args.recipe else []
    cmd += [x for kv in args.set for x in ("--set", kv)]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or 1)}
    subprocess.run(cmd, check=True, env=env)
    return torch.load(result, weights_only=False)


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m, c = report["machine"], report["config"]
    table = Table(title=f"lropt distributed meta-training — {m['device_name']} x N ({c['device']}), torch {m['torch']}, "
                        f"{m['date']}", title_justify="left",
                  caption=f"recipe {c['recipe']} {' '.join(c['overrides'])}; {c['warmup']} warm-up + {c['steps']} "
                          f"timed outer steps; same total task batch at every N", caption_justify="left")
    for col in ("processes", "groups/process", "inner steps/s", "s/outer step", "speed-up", "max |Δ controller|"):
        table.add_column(col, justify="right")
    for r in report["results"]:
        table.add_row(str(r["processes"]), f"{r['groups'] / r['processes']:g}", f"{r['inner_steps_per_s']:,.0f}",
                      f"{r['seconds'] / c['steps']:.3f}", f"{r['speedup']:.2f}x", f"{r['max_abs_diff']:.2e}")
    Console(width=200).print(table)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--nprocs", default=None, help="comma list (default: 1 and every GPU, or 1,2 on the CPU)")
    p.add_argument("--recipe", default=None, help="recipe TOML (default: the embedded default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny recipe, 1+2 outer steps")
    p.add_argument("--out", default="bench_meta_dist.json")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.quick:
        args.warmup, args.steps, args.threads = 1, 2, 1
        args.set = args.set + ["inner.groups=2", "inner.runs_per_group=2", "inner.horizon_min=20",
                               "inner.horizon_max=30", "inner.truncation_min=5", "inner.truncation_max=5"]
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 2
    nprocs = [int(x) for x in (args.nprocs or f"1,{max(gpus, 1)}").split(",")]
    results, ref = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for n in nprocs:
            r = launch(args, n, Path(tmp) / f"n{n}.pt")
            ref = ref or r
            diff = max(float((r["controller"][k] - ref["controller"][k]).abs().max()) for k in ref["controller"])
            results.append({"processes": n, "groups": r["groups"], "seconds": r["seconds"],
                            "inner_steps": r["inner_steps"], "inner_steps_per_s": r["inner_steps"] / r["seconds"],
                            "max_abs_diff": diff, "machine": r["machine"]})
    for r in results:
        r["speedup"] = r["inner_steps_per_s"] / results[0]["inner_steps_per_s"]
    report = {"machine": results[0]["machine"], "results": results, "config": {
        "device": args.device, "recipe": args.recipe or "default (embedded)", "overrides": args.set,
        "steps": args.steps, "warmup": args.warmup, "command": " ".join(["python"] + sys.argv)}}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

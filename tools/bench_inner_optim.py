"""Functional Adam vs torch.optim.Adam(differentiable=True) for meta-gradients.

DESIGN.md suggests meta-training could drive torch.optim's own optimisers
(``differentiable=True`` with a tensor ``lr`` that requires grad) instead of
hand-written functional ones. This script measures the question that decides
it, on the DESIGN's reference problem (MLP 40-128-128-10, batch 64, CPU):

- time of one 20-step inner unroll plus the meta-gradient d(val loss)/d(log lr),
  first-order (gradients detached, truncated BPTT) and second-order
  (``create_graph=True``), for (a) :mod:`lropt.meta.inner_optim` Adam and (b)
  ``torch.optim.Adam(differentiable=True)``; median of repeats after warm-up,
  the two alternating in one process;
- whether both give the same meta-loss and meta-gradient;
- whether each works under ``torch.func.vmap`` (tasks stacked), which the
  batched meta-trainer needs.

Usage: ``python tools/bench_inner_optim.py [--repeats 15] [--threads N] [--out inner_optim_bench.json]``.
Prints a table last and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
import warnings

import torch
from torch.func import functional_call

from lropt.meta.inner_optim import inner_optimizer

SIZES = (40, 128, 128, 10)
BATCH = 64
UNROLL = 20
LOG_LR = -6.9  # lr ~ 1e-3


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if i < len(SIZES) - 2 else [])
    return torch.nn.Sequential(*layers)


def make_batches(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    train = [(torch.randn(BATCH, SIZES[0], generator=g), torch.randint(0, SIZES[-1], (BATCH,), generator=g))
             for _ in range(UNROLL)]
    val = (torch.randn(BATCH, SIZES[0], generator=g), torch.randint(0, SIZES[-1], (BATCH,), generator=g))
    return train, val


def loss_fn(model, params, batch):
    x, y = batch
    return torch.nn.functional.cross_entropy(functional_call(model, params, (x,)), y)


def functional_unroll(model, init, batches, log_lr, second_order: bool):
    """(a) lropt's functional Adam: returns (meta-loss, d meta-loss / d log_lr)."""
    train, val = batches
    opt = inner_optimizer("adam")
    params = {k: v.clone().requires_grad_() for k, v in init.items()}
    state = opt.init(params)
    lr = log_lr.exp()
    for batch in train:
        grads = torch.autograd.grad(loss_fn(model, params, batch), list(params.values()), create_graph=second_order)
        params, state = opt.step(params, dict(zip(params, grads)), state, lr)
    meta_loss = loss_fn(model, params, val)
    (grad,) = torch.autograd.grad(meta_loss, log_lr)
    return meta_loss.detach(), grad


def torch_unroll(model, init, batches, log_lr, second_order: bool):
    """(b) torch.optim.Adam(differentiable=True) stepping non-leaf params in place."""
    train, val = batches
    params = {k: v.clone().requires_grad_().clone() for k, v in init.items()}  # non-leaf: in-place steps allowed
    opt = torch.optim.Adam(list(params.values()), lr=log_lr.exp(), differentiable=True)
    for batch in train:
        grads = torch.autograd.grad(loss_fn(model, params, batch), list(params.values()), create_graph=second_order)
        for p, g in zip(params.values(), grads):
            p.grad = g
        opt.step()
    meta_loss = loss_fn(model, params, val)
    (grad,) = torch.autograd.grad(meta_loss, log_lr)
    return meta_loss.detach(), grad


IMPLS = {"functional Adam (lropt)": functional_unroll, "torch.optim.Adam(differentiable=True)": torch_unroll}


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"


def time_all(repeats: int, warmup: int, second_order: bool) -> dict:
    """Median seconds per unroll+meta-gradient for each implementation, alternating.

    An implementation that raises is recorded with its error and dropped from the timing.
    """
    model, batches = make_model(), make_batches()
    init = {k: v.detach() for k, v in model.named_parameters()}
    log_lr = torch.tensor(LOG_LR, requires_grad=True)
    times: dict[str, list[float]] = {name: [] for name in IMPLS}
    results, errors = {}, {}
    for rep in range(warmup + repeats):
        for name, fn in IMPLS.items():
            if name in errors:
                continue
            start = time.perf_counter()
            try:
                results[name] = fn(model, init, batches, log_lr, second_order)
            except RuntimeError as exc:
                errors[name] = _error_text(exc)
                continue
            if rep >= warmup:
                times[name].append(time.perf_counter() - start)
    out = {
        "median_s": {name: statistics.median(ts) if ts else None for name, ts in times.items()},
        "meta_loss": {name: float(results[name][0]) if name in results else None for name in IMPLS},
        "meta_grad": {name: float(results[name][1]) if name in results else None for name in IMPLS},
        "errors": {name: errors.get(name) for name in IMPLS},
        "meta_grad_rel_diff": None,
    }
    if len(results) == 2:
        (_, grad_a), (_, grad_b) = results.values()
        out["meta_grad_rel_diff"] = float((grad_a - grad_b).abs() / grad_b.abs().clamp_min(1e-30))
    return out


def _functional_task(model, params, train, val, lr):
    """One task's unroll with torch.func.grad inner gradients (vmap-friendly), lropt functional Adam."""
    opt = inner_optimizer("adam")
    state = opt.init(params)
    for x, y in train:
        grads = torch.func.grad(lambda q: loss_fn(model, q, (x, y)))(params)
        params, state = opt.step(params, {k: g.detach() for k, g in grads.items()}, state, lr)
    return loss_fn(model, params, val)


def _torch_task(model, params, train, val, lr):
    """The same unroll with torch.optim.Adam(differentiable=True) stepping a private copy in place."""
    params = {k: v.clone() for k, v in params.items()}
    opt = torch.optim.Adam(list(params.values()), lr=lr, differentiable=True)
    for x, y in train:
        grads = torch.func.grad(lambda q: loss_fn(model, q, (x, y)))(params)
        for p, g in zip(params.values(), grads.values()):
            p.grad = g.detach()
        opt.step()
    return loss_fn(model, params, val)


TASK_FNS = {"functional Adam (lropt)": _functional_task, "torch.optim.Adam(differentiable=True)": _torch_task}


def vmap_check(n_tasks: int, repeats: int) -> dict:
    """Does each implementation run a whole first-order unroll under torch.func.vmap over stacked tasks?

    ``works`` means it runs, matches a Python loop over the tasks and yields a
    finite meta-gradient; ``fallback_ops`` lists ops vmap ran one sample at a
    time (torch warns "performance drop"); times are medians per vmapped call.
    """
    model = make_model()
    inits = [{k: v.detach() for k, v in make_model(seed).named_parameters()} for seed in range(n_tasks)]
    stacked = {k: torch.stack([p[k] for p in inits]) for k in inits[0]}
    per_task = [make_batches(seed) for seed in range(n_tasks)]
    train = [tuple(torch.stack([b[0][t][i] for b in per_task]) for i in range(2)) for t in range(UNROLL)]
    val = tuple(torch.stack([b[1][i] for b in per_task]) for i in range(2))
    log_lr = torch.tensor(LOG_LR, requires_grad=True)
    out = {}
    for name, fn in TASK_FNS.items():
        def batched(p, tr, va, lr, fn=fn):
            return fn(model, p, tr, va, lr)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                losses = torch.func.vmap(batched, in_dims=(0, 0, 0, None))(stacked, train, val, log_lr.exp())
            (grad,) = torch.autograd.grad(losses.sum(), log_lr)
        except Exception as exc:  # noqa: BLE001 - we report whatever vmap raises
            out[name] = {"works": False, "error": _error_text(exc)}
            continue
        looped = torch.stack([fn(model, dict(inits[i]), per_task[i][0], per_task[i][1], log_lr.exp())
                              for i in range(n_tasks)])
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                losses_t = torch.func.vmap(batched, in_dims=(0, 0, 0, None))(stacked, train, val, log_lr.exp())
            torch.autograd.grad(losses_t.sum(), log_lr)
            times.append(time.perf_counter() - start)
        fallback = sorted({m.group(1) for w in caught
                           if (m := re.search(r"batching rule for (\S+?)\.? ", str(w.message)))})
        matches = bool(torch.allclose(losses.detach(), looped.detach(), rtol=1e-5, atol=1e-6))
        out[name] = {"works": matches and bool(torch.isfinite(grad)), "error": None,
                     "matches_loop": matches, "fallback_ops": fallback, "n_tasks": n_tasks,
                     "median_s": statistics.median(times)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--vmap-tasks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default="inner_optim_bench.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    report = {
        "problem": {"mlp": list(SIZES), "batch": BATCH, "unroll": UNROLL, "device": "cpu"},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "repeats": args.repeats, "warmup": args.warmup,
        "first_order": time_all(args.repeats, args.warmup, second_order=False),
        "second_order": time_all(args.repeats, args.warmup, second_order=True),
        "vmap": vmap_check(args.vmap_tasks, max(3, args.repeats // 3)),
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, MLP {SIZES}, batch {BATCH}, "
          f"{UNROLL}-step unroll + meta-gradient, median of {args.repeats}")
    header = f"{'implementation':40s} {'order':>6s} {'s/unroll':>9s} {'meta-grad':>12s} {'rel diff':>9s} {'vmap':>5s}"
    print(header)
    print("-" * len(header))
    for order in ("first_order", "second_order"):
        r = report[order]
        diff = "-" if r["meta_grad_rel_diff"] is None else f"{r['meta_grad_rel_diff']:.1e}"
        for name in IMPLS:
            secs = "fails" if r["median_s"][name] is None else f"{r['median_s'][name]:.4f}"
            grad = "-" if r["meta_grad"][name] is None else f"{r['meta_grad'][name]:.6g}"
            vmap_ok = "yes" if report["vmap"][name]["works"] else "no"
            print(f"{name:40s} {order.split('_')[0]:>6s} {secs:>9s} {grad:>12s} {diff:>9s} {vmap_ok:>5s}")
    for order in ("first_order", "second_order"):
        for name, err in report[order]["errors"].items():
            if err:
                print(f"{order} failure, {name}: {err}")
    print()
    print(f"under torch.func.vmap, {args.vmap_tasks} stacked tasks, {UNROLL}-step first-order unroll + meta-gradient")
    for name, v in report["vmap"].items():
        if v["works"]:
            ops = ", ".join(v["fallback_ops"]) or "none"
            print(f"  {name:40s} works, {v['median_s']:.4f} s/call; per-sample fallback ops: {ops}")
        else:
            print(f"  {name:40s} FAILS: {v['error'] or 'result differs from a loop over tasks'}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

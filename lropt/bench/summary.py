"""From raw runs to the numbers MEASURING.md asks for, per task and overall.

Per task:

- ``target``: the median best validation loss of the best classic schedule
  (lowest such median among :data:`lropt.schedules.SCHEDULES` present) at the
  centre LR factor, in the tuned regime when it was run, else at defaults;
  its median steps-to-target is the reference for ``speedup``;
- ``cells``: one per (regime, LR factor, method): medians and all-seed values
  of best/final validation loss and metric, steps-to-target (lower median,
  see :func:`~lropt.bench.stats.median_steps`), speedup, divergences,
  wall-clock, final loss relative to the centre factor, and the runs with
  their curves;
- ``headline``: per (regime, factor), does lropt match (within ``rel_tol``)
  or beat the best of constant/step/exponential/cyclic/cosine at the same
  factor (median final validation loss)?
- ``tests``: per (regime, factor, baseline), lropt's paired Wilcoxon test
  and win/tie/loss over seeds (final validation loss);
- ``peer``: per method at defaults, centre factor: does it match or beat the
  target-setting schedule, and how much sooner does it reach the target?

Overall (:func:`summarize_all`): the headline fraction of cells per regime
(with a seed bootstrap of the count: how far another draw of seeds could move it),
pooled Wilcoxon tests across tasks and seeds, win/tie/loss per task, and the
peer count across tasks. Nothing is averaged across tasks.
"""
from __future__ import annotations

import math

from ..schedules import SCHEDULES
from .runner import LROPT
from .stats import (bootstrap_cell_count, matches_or_beats, median, median_steps, paired_wilcoxon,
                    relative_diff, speedup, steps_to_target, win_tie_loss)

#: The schedules of the headline claim (lropt matches or beats the best of these at the same base LR).
HEADLINE_SET: tuple[str, ...] = ("constant", "step", "exponential", "cyclic", "cosine")


def _ratio(a: float, b: float) -> float | None:
    """``a / b`` for finite ``a`` and finite positive ``b``, else ``None``."""
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else None


def _metric_median(values):
    vals = [v for v in values if v is not None]
    return median(vals) if vals and len(vals) == len(values) else None


def _cell(regime, factor, method, lr, runs, target) -> dict:
    steps = [steps_to_target(r.eval_steps, r.val_loss, target) if target is not None else None for r in runs]
    finals, bests = [r.final_val_loss for r in runs], [r.best_val_loss for r in runs]
    f_metric, b_metric = [r.final_metric for r in runs], [r.best_metric for r in runs]
    return {
        "regime": regime, "lr_factor": factor, "method": method, "base_lr": lr, "seeds": [r.seed for r in runs],
        "final_val_loss": median(finals), "final_val_loss_all": finals,
        "best_val_loss": median(bests), "best_val_loss_all": bests,
        "final_metric": _metric_median(f_metric), "final_metric_all": f_metric,
        "best_metric": _metric_median(b_metric), "best_metric_all": b_metric,
        "steps_to_target": median_steps(steps), "steps_to_target_all": steps,
        "reached": sum(s is not None for s in steps),
        "divergences": sum(r.diverged for r in runs),
        "wall_s": median([r.wall_s for r in runs]), "wall_s_all": [r.wall_s for r in runs],
        "train_s": median([r.train_s for r in runs]),
        "runs": [r.to_dict() for r in runs],
    }


def _target(raw: dict, regimes: list[str], centre: float) -> dict:
    """The best classic schedule at the centre factor (tuned if available) and its median best val loss."""
    regime = "tuned" if "tuned" in regimes else "defaults"
    methods = {m for (_, _, m) in raw["cells"]}
    pool = [m for m in methods if m in SCHEDULES] or [m for m in methods if m != LROPT] or [LROPT]
    scores = {m: median([r.best_val_loss for r in raw["cells"][(regime, centre, m)][1]]) for m in pool}
    best = min(sorted(pool), key=lambda m: scores[m])
    value = scores[best]
    return {"val_loss": value if math.isfinite(value) else None, "method": best, "regime": regime,
            "lr_factor": centre}


def _find(cells, regime, factor, method):
    return next(c for c in cells if c["regime"] == regime and c["lr_factor"] == factor and c["method"] == method)


def _headline(cells, regimes, factors, rel_tol) -> list[dict]:
    out = []
    for regime in regimes:
        for f in factors:
            row = [c for c in cells if c["regime"] == regime and c["lr_factor"] == f]
            classic = [c for c in row if c["method"] in HEADLINE_SET]
            lro = next(c for c in row if c["method"] == LROPT)
            if not classic:
                continue
            best = min(classic, key=lambda c: c["final_val_loss"])
            out.append({
                "regime": regime, "lr_factor": f, "lropt": lro["final_val_loss"],
                "best_classic": best["final_val_loss"], "best_classic_method": best["method"],
                "relative_diff": relative_diff(lro["final_val_loss"], best["final_val_loss"]),
                "matches_or_beats": matches_or_beats(lro["final_val_loss"], best["final_val_loss"], rel_tol),
            })
    return out


def _tests(cells, regimes, factors, rel_tol) -> list[dict]:
    out = []
    for regime in regimes:
        for f in factors:
            lro = _find(cells, regime, f, LROPT)
            for c in cells:
                if c["regime"] == regime and c["lr_factor"] == f and c["method"] != LROPT:
                    a, b = lro["final_val_loss_all"], c["final_val_loss_all"]
                    out.append({"regime": regime, "lr_factor": f, "baseline": c["method"],
                                "wilcoxon": paired_wilcoxon(a, b), **win_tie_loss(a, b, rel_tol)})
    return out


def _peer(cells, target, rel_tol) -> dict:
    """Each method at defaults and the centre factor against the target-setting schedule."""
    ref = _find(cells, target["regime"], target["lr_factor"], target["method"])
    out = {}
    for c in cells:
        if c["regime"] == "defaults" and c["lr_factor"] == target["lr_factor"]:
            out[c["method"]] = {
                "final_val_loss": c["final_val_loss"], "reference_final_val_loss": ref["final_val_loss"],
                "matches_or_beats": matches_or_beats(c["final_val_loss"], ref["final_val_loss"], rel_tol),
                "steps_to_target": c["steps_to_target"], "speedup": c["speedup"],
            }
    return out


def summarize_task(raw: dict, *, centre: float, rel_tol: float) -> dict:
    """The per-task entry of ``compare``'s result (see the module docstring)."""
    task = raw["task"]
    regimes = sorted({r for (r, _, _) in raw["cells"]}, key=["defaults", "tuned"].index)
    factors = sorted({f for (_, f, _) in raw["cells"]})
    target = _target(raw, regimes, centre)
    cells = [_cell(r, f, m, lr, runs, target["val_loss"]) for (r, f, m), (lr, runs) in raw["cells"].items()]
    target["steps"] = _find(cells, target["regime"], centre, target["method"])["steps_to_target"]
    for c in cells:
        c["speedup"] = speedup(target["steps"], c["steps_to_target"])
        base = _find(cells, c["regime"], centre, c["method"])["final_val_loss"]
        c["relative_to_centre"] = _ratio(c["final_val_loss"], base)
    for regime in regimes:
        for f in factors:
            row = [c for c in cells if c["regime"] == regime and c["lr_factor"] == f]
            best = min(c["final_val_loss"] for c in row)
            for c in row:
                c["best_in_cell"] = c["final_val_loss"] == best
    return {
        "name": task.name, "family": task.family, "kind": task.kind, "description": task.description,
        "metric_name": task.metric_name, "steps": raw["steps"], "eval_every": raw["eval_every"],
        "default_lr": raw["default_lr"], "tuning": raw["tuning"], "target": target,
        "headline": _headline(cells, regimes, factors, rel_tol), "tests": _tests(cells, regimes, factors, rel_tol),
        "peer": _peer(cells, target, rel_tol), "cells": cells,
    }


def _best_classic_pairs(task: dict, regime: str) -> tuple[list, list]:
    """lropt's and the cell's best headline schedule's final losses, paired by seed, over all factors."""
    a, b = [], []
    for h in task["headline"]:
        if h["regime"] == regime:
            a += _find(task["cells"], regime, h["lr_factor"], LROPT)["final_val_loss_all"]
            b += _find(task["cells"], regime, h["lr_factor"], h["best_classic_method"])["final_val_loss_all"]
    return a, b


def _headline_cells(task: dict, regime: str) -> list[tuple[list, list[list]]]:
    """Per headline cell: lropt's final losses and each headline schedule's, over the seeds."""
    out = []
    for h in task["headline"]:
        if h["regime"] == regime:
            row = [c for c in task["cells"] if c["regime"] == regime and c["lr_factor"] == h["lr_factor"]]
            out.append((_find(row, regime, h["lr_factor"], LROPT)["final_val_loss_all"],
                        [c["final_val_loss_all"] for c in row if c["method"] in HEADLINE_SET]))
    return out


def summarize_all(tasks: dict, regimes: list[str], rel_tol: float) -> dict:
    """Cross-task view: headline fractions, pooled tests, per-task win/tie/loss, peer counts."""
    out = {}
    for regime in regimes:
        heads = [h for t in tasks.values() for h in t["headline"] if h["regime"] == regime]
        per_task, pooled_a, pooled_b = {}, [], []
        for name, t in tasks.items():
            a, b = _best_classic_pairs(t, regime)
            per_task[name] = win_tie_loss(a, b, rel_tol)
            pooled_a, pooled_b = pooled_a + a, pooled_b + b
        baselines = sorted({x["baseline"] for t in tasks.values() for x in t["tests"] if x["regime"] == regime})
        pooled = {}
        for m in baselines:
            a, b = [], []
            for t in tasks.values():
                for f in sorted({c["lr_factor"] for c in t["cells"]}):
                    a += _find(t["cells"], regime, f, LROPT)["final_val_loss_all"]
                    b += _find(t["cells"], regime, f, m)["final_val_loss_all"]
            pooled[m] = {"wilcoxon": paired_wilcoxon(a, b), **win_tie_loss(a, b, rel_tol)}
        out[regime] = {
            "headline": {"cells": len(heads), "matches_or_beats": sum(h["matches_or_beats"] for h in heads),
                         "fraction": (sum(h["matches_or_beats"] for h in heads) / len(heads)) if heads else None,
                         "seed_bootstrap": bootstrap_cell_count(
                             [_headline_cells(t, regime) for t in tasks.values()], rel_tol=rel_tol)},
            "vs_best_classic": {"wilcoxon": paired_wilcoxon(pooled_a, pooled_b),
                                **win_tie_loss(pooled_a, pooled_b, rel_tol), "per_task": per_task},
            "pooled_vs_baseline": pooled,
        }
    out["peer"] = _peer_summary(tasks)
    return out


def _peer_summary(tasks: dict) -> dict:
    """Per method: on how many tasks it matches or beats the target-setting schedule, and its median speedup."""
    methods = sorted({m for t in tasks.values() for m in t["peer"]})
    out = {}
    for m in methods:
        entries = [t["peer"][m] for t in tasks.values() if m in t["peer"]]
        speeds = [e["speedup"] or 0.0 for e in entries]
        out[m] = {"tasks": len(entries), "matches_or_beats": sum(e["matches_or_beats"] for e in entries),
                  "median_speedup": median(speeds) if speeds else None}
    return out

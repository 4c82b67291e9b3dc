"""Count the (task, base LR) cells where a controller matches or beats the best classic schedule of
another `lropt compare` run.

Judging a candidate controller does not need the schedules run again: run it alone (`lropt compare
--task T --controller CAND.pt --methods constant`, same seeds) and compare its lropt cells with the
best of constant/step/exponential/cyclic/cosine in a reference run that has them. The rule is the
one `lropt compare` uses for its own headline count: the median final validation loss of the
candidate at most 1% above the best classic's (lower is better), with no divergence counted in the
loss. ``--loss best`` judges the median best validation loss instead: what a run that keeps its best
checkpoint (early stopping) ends with; a run that diverged counts with its best loss before it did (the
divergences are counted apart, as always). BENCHMARKS.md's "classics from the reference runs" counts come from this.

It also reports the steps-to-target speedup at the reference's centre LR: the candidate's runs against
the reference run's target (the best classic's median best validation loss) and the steps its
target-setting schedule took, by :mod:`lropt.bench.stats`. The median over tasks counts a task the
candidate's median run never reaches as 0, as BENCHMARKS.md does. The target and its regime are the
reference run's own (tuned when that run tuned), whatever ``--regime`` says for the cells. With
``--speedup-at all`` every (task, LR factor) cell gets its own target: the median best validation loss of
that cell's best classic (constant/step/exponential/cyclic/cosine, at ``--regime``; the centre target may
come from a wider pool and the tuned regime), and the median is over cells (per factor too). A cell
without a target (its best classic diverged) or without the candidate's per-run curves is left out.

Usage::

    python tools/cells_against.py REFERENCE/results.json CANDIDATE/results.json [REF2 CAND2 ...]
        [--regime defaults] [--loss final|best] [--speedup-at centre|all] [--target-slack F]
        [--out cells.json]

Prints one row per cell and the count last; writes JSON with ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from lropt.bench.results_files import cell_loss
from lropt.bench.runner import LROPT
from lropt.bench.stats import TIE_TOL, median, median_steps, speedup, steps_to_target
from lropt.bench.summary import HEADLINE_SET, _headline


#: What a cell is judged on: the median final validation loss (the headline), or the median best one (what a
#: run that keeps its best checkpoint ends with).
LOSSES = {"final": "final_val_loss", "best": "best_val_loss"}

#: Where speedups are measured: at the reference's centre LR against its own target (one per task), or in
#: every (task, LR factor) cell against the best classic of that cell (its median best validation loss).
SPEEDUP_AT = ("centre", "all")


def count_cells(reference: dict, candidate: dict, *, regime: str = "defaults", slack: float = 0.0,
                loss: str = "final", speedup_at: str = "centre") -> dict:
    """Per cell: the candidate's lropt median ``loss`` (final or best validation loss) against the reference's
    best classic's, by the rule of ``lropt compare``'s own headline (:func:`lropt.bench.summary._headline`)
    on the merged cells."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if speedup_at not in SPEEDUP_AT:
        raise ValueError(f"speedup_at must be one of {', '.join(SPEEDUP_AT)}, got {speedup_at!r}")
    rows = []
    for task, ref in reference["tasks"].items():
        if task not in candidate["tasks"]:
            raise ValueError(f"task {task!r} is in the reference run but not in the candidate's")
        mine = {c["lr_factor"]: c for c in candidate["tasks"][task]["cells"]
                if c["method"] == LROPT and c["regime"] == regime}
        classics = _classics(ref, regime)
        factors = _factors(ref, regime)
        for factor in factors:
            if not any(c["lr_factor"] == factor for c in classics):
                raise ValueError(f"{task} x{factor}: the reference run has none of {', '.join(HEADLINE_SET)}")
            if factor not in mine:
                raise ValueError(f"{task} x{factor}: the candidate run has no lropt cell")
        merged = [{**c, "final_val_loss": cell_loss(c, LOSSES[loss])} for c in [*classics, *(mine[f] for f in factors)]]
        for h in _headline(merged, [regime], factors, TIE_TOL):
            rows.append({"task": task, "lr_factor": h["lr_factor"], "lropt": h["lropt"],
                         "best_method": h["best_classic_method"], "best": h["best_classic"],
                         "relative": h["relative_diff"], "matches_or_beats": h["matches_or_beats"],
                         "divergences": mine[h["lr_factor"]]["divergences"]})
    speeds = [s for task, ref in reference["tasks"].items() for target in targets(task, ref, speedup_at, regime)
              if (s := task_speedup(task, ref, candidate["tasks"][task], target, slack=slack)) is not None]
    return _totals(rows, speeds)


def targets(task: str, ref: dict, speedup_at: str, regime: str) -> list[dict]:
    """The targets a task's speedups are measured against (see :data:`SPEEDUP_AT`)."""
    if speedup_at == "centre":
        target = ref.get("target") or {}
        return [target] if target.get("val_loss") is not None else []
    out = []
    for factor in _factors(ref, regime):
        classics = [c for c in _classics(ref, regime) if c["lr_factor"] == factor]
        if not classics:
            continue
        best = min(classics, key=lambda c: (cell_loss(c, "best_val_loss"), c["method"]))
        if not math.isfinite(cell_loss(best, "best_val_loss")):
            continue
        if not best.get("runs"):
            raise ValueError(f"{task} x{factor}: speedups in every cell need the per-run curves of the "
                             f"reference's best classic there ({best['method']})")
        steps = median_steps(_steps_to(best, best["best_val_loss"]))
        out.append({"val_loss": best["best_val_loss"], "method": best["method"], "regime": regime,
                    "lr_factor": factor, "steps": steps})
    return out


def _totals(rows: list[dict], speeds: list[dict]) -> dict:
    """The result of a count: its cells and speedups, the matches, the divergences and the median speedup (a
    target never reached counts as 0)."""
    values = [s["speedup"] or 0.0 for s in speeds]
    return {"cells": rows, "matched": sum(r["matches_or_beats"] for r in rows), "total": len(rows),
            "divergences": sum(r["divergences"] for r in rows), "speedups": speeds,
            "median_speedup": median(values) if values else None}


def task_speedup(task: str, ref: dict, cand: dict, target: dict, *, slack: float = 0.0) -> dict | None:
    """The candidate's median steps to ``target`` (one of :func:`targets`) and the speedup over the schedule
    that set it; ``None`` when the candidate kept no per-run curves at its LR.

    ``slack`` > 0 loosens the target to ``target * (1 + slack)`` for both sides (the reference's steps are
    recounted from its runs): a sensitivity check of how much of a miss is the target's knife edge."""
    cell = _target_cell(cand, LROPT, target)
    if cell is None or not cell.get("runs"):
        return None
    value = target["val_loss"] * (1.0 + slack)
    ref_steps = target.get("steps")
    if slack:
        ref_cell = _target_cell(ref, target["method"], target)
        if ref_cell is None or not ref_cell.get("runs"):
            raise ValueError(f"{task}: --target-slack needs the per-run curves of the reference's target-setting "
                             f"cell ({target['method']}, {target['regime']}, x{target['lr_factor']})")
        ref_steps = median_steps(_steps_to(ref_cell, value))
    steps = _steps_to(cell, value)
    mine = median_steps(steps)
    return {"task": task, "lr_factor": target["lr_factor"], "target": value,
            "target_method": target["method"], "target_steps": ref_steps, "steps": mine,
            "reached": sum(s is not None for s in steps), "runs": len(steps),
            "speedup": speedup(ref_steps, mine)}


def _classics(task: dict, regime: str) -> list[dict]:
    """A task's cells of the classic schedules (:data:`HEADLINE_SET`) in ``regime``."""
    return [c for c in task["cells"] if c["regime"] == regime and c["method"] in HEADLINE_SET]


def _factors(task: dict, regime: str) -> list[float]:
    """The LR factors a task's results have in ``regime``, ascending."""
    return sorted({c["lr_factor"] for c in task["cells"] if c["regime"] == regime})


def _steps_to(cell: dict, value: float) -> list[int | None]:
    """Each of a cell's runs' steps to ``value`` (``None``: never reached)."""
    return [steps_to_target(r["eval_steps"], r["val_loss"], value) for r in cell["runs"]]


def _target_cell(task: dict, method: str, target: dict) -> dict | None:
    """``method``'s cell of a task's results at the target's regime and LR factor, if it has one."""
    return next((c for c in task["cells"] if c["method"] == method and c["regime"] == target["regime"]
                 and c["lr_factor"] == target["lr_factor"]), None)


def count_pairs(pairs: list[tuple[dict, dict]], *, regime: str = "defaults", slack: float = 0.0,
                loss: str = "final", speedup_at: str = "centre") -> dict:
    """:func:`count_cells` over several (reference, candidate) pairs, as one count and one median."""
    parts = [count_cells(ref, cand, regime=regime, slack=slack, loss=loss, speedup_at=speedup_at)
             for ref, cand in pairs]
    return _totals([r for part in parts for r in part["cells"]], [s for part in parts for s in part["speedups"]])


def _print(result: dict, *, per_cell: bool = False) -> None:
    print(f"{'task':18s} {'LR x':>5s} {'lropt':>8s} {'best classic':>12s} {'method':12s} {'relative':>9s}")
    for r in result["cells"]:
        mark = "yes" if r["matches_or_beats"] else "no"
        print(f"{r['task']:18s} {r['lr_factor']:5g} {r['lropt']:8.4f} {r['best']:12.4f} {r['best_method']:12s} "
              f"{100 * r['relative']:+8.1f}% {mark}")
    print(f"cells matched or beaten: {result['matched']}/{result['total']}, lropt divergences: "
          f"{result['divergences']}")
    if not result["speedups"]:
        return
    print(f"\n{'task':18s} {'LR x':>5s} {'target':>8s} {'set by':12s} {'its steps':>9s} {'lropt':>6s} "
          f"{'reached':>7s} {'speedup':>7s}")
    for s in result["speedups"]:
        sp = "-" if s["speedup"] is None else f"{s['speedup']:.2f}x"
        its = "-" if s["target_steps"] is None else s["target_steps"]
        mine = "-" if s["steps"] is None else s["steps"]
        print(f"{s['task']:18s} {s['lr_factor']:5g} {s['target']:8.4f} {s['target_method']:12s} {its:>9} "
              f"{mine:>6} {s['reached']:>3}/{s['runs']:<3} {sp:>7s}")
    speeds = result["speedups"]
    print(f"median steps-to-target speedup over {len(speeds)} {'cells' if per_cell else 'tasks'} "
          f"(not reached counted as 0): {result['median_speedup']:.3g}x")
    if per_cell:
        for factor in sorted({s["lr_factor"] for s in speeds}):
            at = [s["speedup"] or 0.0 for s in speeds if s["lr_factor"] == factor]
            print(f"  at LR x{factor:g}: {median(at):.3g}x over {len(at)} tasks")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", type=Path, nargs="+", metavar="REFERENCE CANDIDATE",
                   help="pairs of results.json: a run with the classic schedules, then one with the "
                        "candidate's lropt cells on the same tasks; several pairs are counted together")
    p.add_argument("--regime", default="defaults", choices=["defaults", "tuned"])
    p.add_argument("--target-slack", type=float, default=0.0, metavar="FRACTION",
                   help="loosen the steps-to-target target by this fraction on both sides (a sensitivity "
                        "check; lropt's target uses 0)")
    p.add_argument("--loss", default="final", choices=list(LOSSES),
                   help="judge cells on the median final validation loss (the headline) or the median best "
                        "one (a run that keeps its best checkpoint)")
    p.add_argument("--speedup-at", default="centre", choices=SPEEDUP_AT,
                   help="steps-to-target at the centre LR against the reference's target (one per task), or "
                        "in every (task, LR) cell against the best classic of that cell")
    p.add_argument("--out", type=Path, help="write the cells, the count and the speedups as JSON here")
    args = p.parse_args(argv)
    if len(args.paths) % 2:
        p.error(f"results files come in pairs (reference, candidate); got {len(args.paths)}")
    if not 0 <= args.target_slack < 1:
        p.error(f"--target-slack must be in [0, 1), got {args.target_slack}")
    try:
        runs = [json.loads(path.read_text()) for path in args.paths]
        result = count_pairs(list(zip(runs[::2], runs[1::2])), regime=args.regime, slack=args.target_slack,
                             loss=args.loss, speedup_at=args.speedup_at)
    except (OSError, ValueError, KeyError) as exc:
        p.error(str(exc))
    _print(result, per_cell=args.speedup_at == "all")
    if args.out:
        settings = {"regime": args.regime, "loss": args.loss, "speedup_at": args.speedup_at,
                    "target_slack": args.target_slack}
        args.out.write_text(json.dumps({**settings, **result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

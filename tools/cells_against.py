"""Count the (task, base LR) cells where a controller matches or beats the best classic schedule of
another `lropt compare` run.

Judging a candidate controller does not need the schedules run again: run it alone (`lropt compare
--task T --controller CAND.pt --methods constant`, same seeds) and compare its lropt cells with the
best of constant/step/exponential/cyclic/cosine in a reference run that has them. The rule is the
one `lropt compare` uses for its own headline count: the median final validation loss of the
candidate at most 1% above the best classic's (lower is better), with no divergence counted in the
loss. BENCHMARKS.md's "classics from the reference runs" counts come from this.

Usage::

    python tools/cells_against.py REFERENCE/results.json CANDIDATE/results.json [--regime defaults]
        [--out cells.json]

Prints one row per cell and the count last; writes JSON with ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from lropt.bench.runner import LROPT
from lropt.bench.stats import TIE_TOL
from lropt.bench.summary import HEADLINE_SET, _headline


def _final(cell: dict) -> float:
    value = cell.get("final_val_loss")
    return value if value is not None and math.isfinite(value) else math.inf


def count_cells(reference: dict, candidate: dict, *, regime: str = "defaults") -> dict:
    """Per cell: the candidate's lropt median final loss against the reference's best classic, by the rule
    of ``lropt compare``'s own headline (:func:`lropt.bench.summary._headline`) on the merged cells."""
    rows = []
    for task, ref in reference["tasks"].items():
        if task not in candidate["tasks"]:
            raise ValueError(f"task {task!r} is in the reference run but not in the candidate's")
        mine = {c["lr_factor"]: c for c in candidate["tasks"][task]["cells"]
                if c["method"] == LROPT and c["regime"] == regime}
        classics = [c for c in ref["cells"] if c["regime"] == regime and c["method"] in HEADLINE_SET]
        factors = sorted({c["lr_factor"] for c in ref["cells"] if c["regime"] == regime})
        for factor in factors:
            if not any(c["lr_factor"] == factor for c in classics):
                raise ValueError(f"{task} x{factor}: the reference run has none of {', '.join(HEADLINE_SET)}")
            if factor not in mine:
                raise ValueError(f"{task} x{factor}: the candidate run has no lropt cell")
        merged = [{**c, "final_val_loss": _final(c)} for c in [*classics, *(mine[f] for f in factors)]]
        for h in _headline(merged, [regime], factors, TIE_TOL):
            rows.append({"task": task, "lr_factor": h["lr_factor"], "lropt": h["lropt"],
                         "best_method": h["best_classic_method"], "best": h["best_classic"],
                         "relative": h["relative_diff"], "matches_or_beats": h["matches_or_beats"],
                         "divergences": mine[h["lr_factor"]]["divergences"]})
    return {"cells": rows, "matched": sum(r["matches_or_beats"] for r in rows), "total": len(rows),
            "divergences": sum(r["divergences"] for r in rows)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference", type=Path, help="results.json of a run with the classic schedules")
    p.add_argument("candidate", type=Path, help="results.json of a run with the candidate's lropt cells")
    p.add_argument("--regime", default="defaults", choices=["defaults", "tuned"])
    p.add_argument("--out", type=Path, help="write the cells and the count as JSON here")
    args = p.parse_args(argv)
    try:
        result = count_cells(*(json.loads(path.read_text()) for path in (args.reference, args.candidate)),
                             regime=args.regime)
    except (OSError, ValueError, KeyError) as exc:
        p.error(str(exc))
    print(f"{'task':18s} {'LR x':>5s} {'lropt':>8s} {'best classic':>12s} {'method':12s} {'relative':>9s}")
    for r in result["cells"]:
        mark = "yes" if r["matches_or_beats"] else "no"
        print(f"{r['task']:18s} {r['lr_factor']:5g} {r['lropt']:8.4f} {r['best']:12.4f} {r['best_method']:12s} "
              f"{100 * r['relative']:+8.1f}% {mark}")
    print(f"cells matched or beaten: {result['matched']}/{result['total']}, lropt divergences: "
          f"{result['divergences']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

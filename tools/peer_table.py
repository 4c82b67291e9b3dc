"""The peer table over several `lropt compare` runs: every method at its defaults against the LR-tuned best
classic schedule (MEASURING.md's "peer to beat").

A run with ``--regime both`` tunes each baseline's LR on a grid and sets each task's target from the tuned
regime: the best of constant/step/exponential/cyclic/cosine there, its median best validation loss and the
steps it took. Each task's ``peer`` entry then judges every method *at the defaults regime* (lropt untuned,
Prodigy at its defaults with cosine annealing, ...) against that schedule: does its median final validation
loss match (within 1%) or beat the schedule's, and how many times fewer steps does its median run take to the
target. The schedule is picked on its best validation loss, so it is not always the tuned classic with the
lowest *final* loss (``tools/cells_against.py --regime tuned`` judges lropt against that one). One ``lropt compare`` prints this per run; this script puts the tasks of several runs together, as
:func:`lropt.bench.summary._peer_summary` does within one run (a task never reached counts as 0 in the median).

Usage::

    python tools/peer_table.py RUN1/results.json [RUN2/results.json ...] [--out peer.json]

Prints one row per task (each method's speedup; ``*`` where it matches or beats) and the totals per method.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lropt.bench.results_files import merge_tasks as merge_results
from lropt.bench.runner import LROPT
from lropt.bench.summary import _peer_summary


def merge_tasks(runs: list[tuple[str, dict]]) -> dict:
    """The tasks of several ``--regime both`` results files as one dict (see :func:`merge_results`)."""
    return merge_results(runs, regimes=("defaults", "tuned"))


def peer_table(tasks: dict, rel_tol: float = 0.01) -> dict:
    """Per task, each method's peer entry; per method, the tasks matched or beaten, reached, and the median speedup."""
    totals = _peer_summary(tasks)
    for method, row in totals.items():
        row["reached"] = sum(t["peer"][method]["speedup"] is not None for t in tasks.values() if method in t["peer"])
    per_task = {name: {"target": t["target"], "peer": t["peer"]} for name, t in tasks.items()}
    return {"tasks": per_task, "methods": totals, "rel_tol": rel_tol}


def _entry(p: dict) -> str:
    mark = "*" if p["matches_or_beats"] else " "
    return ("-" if p["speedup"] is None else f"{p['speedup']:.2f}x") + mark


def _print(result: dict) -> None:
    methods = sorted(result["methods"], key=lambda m: (m != LROPT, m))
    print(f"{'task':20s} {'target set by':14s} " + " ".join(f"{m[:13]:>14s}" for m in methods))
    for name, t in result["tasks"].items():
        cells = " ".join(f"{_entry(t['peer'][m]) if m in t['peer'] else '':>14s}" for m in methods)
        print(f"{name:20s} {t['target']['method']:14s} {cells}")
    print("\n(speedup against the target-setting schedule: the tuned classic with the lowest median best "
          "validation loss; '-' not reached; "
          f"'*' median final validation loss within {100 * result['rel_tol']:g}% of that schedule's or lower)\n")
    print(f"{'method':14s} {'matches or beats':>16s} {'reached':>8s} {'median speedup':>15s}")
    for m in methods:
        row = result["methods"][m]
        speed = "-" if row["median_speedup"] is None else f"{row['median_speedup']:.2f}x"
        print(f"{m:14s} {row['matches_or_beats']:>10}/{row['tasks']:<5} {row['reached']:>4}/{row['tasks']:<3} "
              f"{speed:>15s}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", type=Path, nargs="+", metavar="RESULTS", help="results.json of lropt compare --regime both")
    p.add_argument("--out", type=Path, help="write the per-task entries and the totals as JSON here")
    args = p.parse_args(argv)
    try:
        runs = [(str(path), json.loads(path.read_text())) for path in args.paths]
        tasks = merge_tasks(runs)
    except (OSError, ValueError) as exc:
        p.error(str(exc))
    result = peer_table(tasks, rel_tol=runs[0][1]["meta"].get("rel_tol", 0.01))
    _print(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

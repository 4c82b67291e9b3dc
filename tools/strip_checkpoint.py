"""Copy a meta-training checkpoint without its inner runs, to move a run between machines.

A checkpoint holds every inner run's parameters and optimizer state (hundreds of MiB with
large task families). The stripped copy keeps the controller, the outer optimizer, the best
weights, counters, RNG states and validation baselines. Put it in a run directory as
``checkpoint.pt`` and ``lropt meta-train RECIPE --out DIR --resume`` continues the outer loop
with freshly drawn inner runs:

    python tools/strip_checkpoint.py runs/feedback/checkpoint.pt /tmp/light.pt
    mkdir -p runs/feedback2 && cp /tmp/light.pt runs/feedback2/checkpoint.pt
    lropt meta-train lropt/recipes/feedback.toml --out runs/feedback2 --resume
"""
from __future__ import annotations

import argparse
import sys

from lropt.meta.run import RunError, strip_inner_runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", help="a checkpoint.pt written by lropt meta-train")
    p.add_argument("dst", help="where to write the stripped copy")
    args = p.parse_args(argv)
    try:
        before, after = strip_inner_runs(args.src, args.dst)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {after / 2**20:.2f} MiB (from {before / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

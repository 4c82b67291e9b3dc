"""Write the identity controller shipped as ``lropt/controllers/identity.pt``.

The identity controller has a zero head: its multiplier is exactly 1.0, so
wrapping an optimizer with it changes nothing. It is the fallback ``"default"``
until a meta-trained default ships, and a handy reference in comparisons.

    python tools/make_identity_controller.py [--out lropt/controllers/identity.pt]
"""
import argparse

import torch

from lropt import LRController, save_controller


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="lropt/controllers/identity.pt")
    args = ap.parse_args()
    torch.manual_seed(0)
    ctrl = LRController()
    save_controller(ctrl, args.out, metadata={"name": "identity", "trained": False})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

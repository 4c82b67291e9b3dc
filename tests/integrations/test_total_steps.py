"""The run length a trainer knows, given to a wrapper built without ``total_steps`` (no framework needed)."""
import torch

from lropt import LROptimizerWrapper
from lropt.integrations import fill_total_steps


def test_fill_total_steps_only_fills_a_missing_whole_number():
    def wrapper(total=None):
        return LROptimizerWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1), total_steps=total)

    w = wrapper()
    assert fill_total_steps(w, 120) and w.total_steps == 120
    w = wrapper(50)
    assert not fill_total_steps(w, 120) and w.total_steps == 50        # the user's value stays
    for bad in (None, float("inf"), 0, -3, 2.5, "many"):
        w = wrapper()
        assert not fill_total_steps(w, bad) and w.total_steps is None
    w = wrapper()
    assert fill_total_steps(w, 30.0) and w.total_steps == 30             # Lightning's count can be a float

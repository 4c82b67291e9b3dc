"""Comparison runner: lropt against LR schedules and LR-free optimizers (see MEASURING.md).

- :mod:`~lropt.bench.runner`: one training run, recorded (:func:`run_method`);
- :mod:`~lropt.bench.stats`: steps-to-target, speedup, Wilcoxon, win/tie/loss;
- :mod:`~lropt.bench.compare`: the whole protocol over tasks, methods, LR factors, seeds, regimes;
- :mod:`~lropt.bench.summary`: per-task and cross-task numbers from the runs;
- :mod:`~lropt.bench.report`: rich table, JSON, Markdown, TensorBoard, PNG.
"""
from .compare import compare, default_methods
from .runner import RunResult, run_method

__all__ = ["compare", "default_methods", "RunResult", "run_method"]

"""Statistics of a comparison: steps-to-target, speedup, paired tests, win/tie/loss.

Conventions: lower is better (validation losses, steps); a diverged run's
final loss is ``inf``; a run that never reaches the target has steps ``None``.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

#: Relative tolerance inside which two losses count as a tie ("matches within 1%").
TIE_TOL = 0.01
#: Cap on ``|log(a) - log(b)|`` so that a diverged run ranks worst without being infinite.
LOG_CAP = 5.0
_TINY = 1e-12


def steps_to_target(eval_steps: Sequence[int], val_losses: Sequence[float], target: float) -> int | None:
    """The first evaluation step whose validation loss is ``<= target``; ``None`` if never."""
    for step, loss in zip(eval_steps, val_losses):
        if math.isfinite(loss) and loss <= target:
            return int(step)
    return None


def median_steps(steps: Sequence[int | None]) -> int | None:
    """Lower median of steps-to-target, a run that never reached counting as infinitely many steps.

    The lower median (of an even count, the smaller middle value) is finite as
    soon as half of the runs reach the target; ``None`` when fewer do.
    """
    if not steps:
        return None
    value = statistics.median_low([math.inf if s is None else s for s in steps])
    return None if math.isinf(value) else int(value)


def speedup(reference_steps: int | None, steps: int | None) -> float | None:
    """``reference_steps / steps`` (> 1: faster than the reference); ``None`` if either never reached.

    Both counts are clamped to at least one step, so a target met at
    initialisation gives a finite ratio.
    """
    if reference_steps is None or steps is None:
        return None
    return max(reference_steps, 1) / max(steps, 1)


def median(values: Sequence[float]) -> float:
    """Median that keeps ``inf`` (a diverged run) as a value; ``nan`` for no values."""
    return statistics.median(values) if values else math.nan


def log_ratio(a: float, b: float, cap: float = LOG_CAP) -> float:
    """``log(a) - log(b)`` clipped to ``[-cap, cap]``; both diverged gives 0, one diverged the cap."""
    fa, fb = math.isfinite(a), math.isfinite(b)
    if not fa and not fb:
        return 0.0
    if not fa:
        return cap
    if not fb:
        return -cap
    return max(-cap, min(cap, math.log(max(a, _TINY)) - math.log(max(b, _TINY))))


def relative_diff(a: float, b: float) -> float:
    """``(a - b) / |b|`` with infinities handled (both ``inf``: 0)."""
    if math.isinf(a) and math.isinf(b):
        return 0.0
    if math.isinf(a) or math.isinf(b):
        return math.inf if math.isinf(a) else -math.inf
    return (a - b) / max(abs(b), _TINY)


def matches_or_beats(a: float, b: float, rel_tol: float = TIE_TOL) -> bool:
    """Is loss ``a`` at most ``b`` plus ``rel_tol`` of ``b`` (matches within the tolerance, or beats)?"""
    return relative_diff(a, b) <= rel_tol


def outcome(a: float, b: float, rel_tol: float = TIE_TOL) -> str:
    """``"win"`` if loss ``a`` is below ``b`` by more than ``rel_tol`` (relative), ``"loss"`` if above,
    else ``"tie"``."""
    d = relative_diff(a, b)
    if d < -rel_tol:
        return "win"
    if d > rel_tol:
        return "loss"
    return "tie"


def win_tie_loss(a: Sequence[float], b: Sequence[float], rel_tol: float = TIE_TOL) -> dict[str, int]:
    """Counts of :func:`outcome` over pairs ``(a[i], b[i])`` (``a``'s point of view)."""
    if len(a) != len(b):
        raise ValueError(f"paired sequences differ in length: {len(a)} vs {len(b)}")
    counts = {"win": 0, "tie": 0, "loss": 0}
    for x, y in zip(a, b):
        counts[outcome(x, y, rel_tol)] += 1
    return counts


def paired_wilcoxon(a: Sequence[float], b: Sequence[float], *, log: bool = True) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired losses ``a`` against ``b``.

    Differences are :func:`log_ratio` (scale-free, so pairs from different
    tasks can be pooled, and a diverged run ranks worst) or plain ``a - b``
    with ``log=False``. Zero differences are dropped (scipy's ``"wilcox"``
    rule). Returns ``n`` (pairs), ``n_nonzero``, ``statistic``, ``p_value``,
    ``median_diff`` (< 0: ``a`` lower) and a ``note`` when no test was
    possible: all differences zero (``p_value`` 1.0), or fewer than two
    non-zero pairs (``p_value`` None). With five seeds, the smallest two-sided
    p-value the exact test can give is 0.0625, hence pooling across tasks.
    """
    if len(a) != len(b):
        raise ValueError(f"paired sequences differ in length: {len(a)} vs {len(b)}")
    diffs = [log_ratio(x, y) if log else x - y for x, y in zip(a, b)]
    diffs = [d for d in diffs if not math.isnan(d)]
    nonzero = [d for d in diffs if d != 0]
    out = {"n": len(diffs), "n_nonzero": len(nonzero), "statistic": None, "p_value": None,
           "median_diff": median(diffs) if diffs else None, "note": None}
    if diffs and not nonzero:
        out.update(p_value=1.0, note="all differences are zero")
        return out
    if len(nonzero) < 2:
        out["note"] = f"too few non-zero pairs ({len(nonzero)}) for a test"
        return out
    from scipy.stats import wilcoxon

    res = wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    out.update(statistic=float(res.statistic), p_value=float(res.pvalue))
    return out


def bootstrap_cell_count(tasks: Sequence[Sequence[tuple[Sequence[float], Sequence[Sequence[float]]]]], *,
                         rel_tol: float = TIE_TOL, draws: int = 2000, seed: int = 0) -> dict:
    """How much the headline count (cells where lropt's median final loss matches or beats the best
    baseline's) moves with the seeds: resample each task's seeds with replacement, the same draw
    for every method and cell of the task (the runs are paired by seed), and recount.

    ``tasks``: per task, its cells; a cell is ``(lropt losses, [baseline losses, ...])``, each a
    list over the task's seeds in one order. Returns the 5%, 50% and 95% quantiles of the count
    (``low``, ``median``, ``high``: counts that occurred, the lower one where a quantile falls
    between two), its mean, ``cells`` and ``draws``. Each controller gets its own range: two
    overlapping ranges are not a test of the difference between two controllers.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    counts = np.zeros(draws, dtype=np.int64)
    n_cells = 0
    for cells in tasks:
        if not cells:
            continue
        arrays = [(np.nan_to_num(np.asarray(a, float), nan=np.inf),
                   [np.nan_to_num(np.asarray(b, float), nan=np.inf) for b in bs]) for a, bs in cells]
        n = len(arrays[0][0])
        if any(len(a) != n or any(len(b) != n for b in bs) for a, bs in arrays):
            raise ValueError("every method of a task needs one loss per seed, in the same seed order")
        idx = rng.integers(n, size=(draws, n))
        for a, bs in arrays:
            lro = np.median(a[idx], axis=1)
            best = np.min([np.median(b[idx], axis=1) for b in bs], axis=0)
            counts += [matches_or_beats(x, y, rel_tol) for x, y in zip(lro.tolist(), best.tolist())]
            n_cells += 1
    q = lambda p: int(np.quantile(counts, p, method="lower")) if n_cells else 0  # noqa: E731
    return {"cells": n_cells, "draws": draws, "low": q(0.05), "median": q(0.5), "high": q(0.95),
            "mean": float(counts.mean()) if n_cells else 0.0}

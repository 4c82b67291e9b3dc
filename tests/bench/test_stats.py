"""Statistics on hand-made numbers."""
import math

import pytest

from lropt.bench import stats


def test_steps_to_target():
    steps, losses = [0, 10, 20, 30], [5.0, 2.0, 1.0, 1.5]
    assert stats.steps_to_target(steps, losses, 2.0) == 10
    assert stats.steps_to_target(steps, losses, 1.0) == 20
    assert stats.steps_to_target(steps, losses, 0.5) is None
    assert stats.steps_to_target([0, 10], [math.inf, 0.1], 1.0) == 10


def test_median_steps_counts_never_reached_as_infinite():
    assert stats.median_steps([10, 20, None]) == 20
    assert stats.median_steps([10, None, None]) is None
    assert stats.median_steps([10, None]) == 10  # lower median: half the runs reached
    assert stats.median_steps([]) is None


def test_speedup():
    assert stats.speedup(100, 50) == 2.0
    assert stats.speedup(100, None) is None and stats.speedup(None, 10) is None
    assert stats.speedup(10, 0) == 10.0  # clamped to one step


def test_wilcoxon_detects_a_clear_difference():
    base = [1.0, 1.2, 0.9, 1.1, 1.3, 0.95, 1.05, 1.15, 0.85, 1.25]
    better = [0.8 * x for x in base]
    res = stats.paired_wilcoxon(better, base)
    assert res["p_value"] < 0.05 and res["median_diff"] < 0 and res["n"] == 10
    assert stats.paired_wilcoxon(base, base[::-1])["p_value"] > 0.05


def test_wilcoxon_degenerate_inputs():
    same = stats.paired_wilcoxon([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["p_value"] == 1.0 and "zero" in same["note"]
    few = stats.paired_wilcoxon([1.0], [2.0])
    assert few["p_value"] is None and "too few" in few["note"]
    assert stats.paired_wilcoxon([], [])["p_value"] is None
    both_diverged = stats.paired_wilcoxon([math.inf, 1.0], [math.inf, 1.0])
    assert both_diverged["p_value"] == 1.0
    with pytest.raises(ValueError):
        stats.paired_wilcoxon([1.0], [1.0, 2.0])


def test_win_tie_loss_with_relative_tolerance():
    a = [1.000, 0.995, 0.980, 1.020, math.inf, math.inf, 1.0]
    b = [1.005, 1.000, 1.000, 1.000, 1.0, math.inf, math.inf]
    assert stats.win_tie_loss(a, b) == {"win": 2, "tie": 3, "loss": 2}
    assert stats.win_tie_loss(a, b, rel_tol=0.05) == {"win": 1, "tie": 5, "loss": 1}


def test_matches_or_beats_and_log_ratio():
    assert stats.matches_or_beats(1.009, 1.0) and not stats.matches_or_beats(1.02, 1.0)
    assert stats.matches_or_beats(0.5, 1.0) and stats.matches_or_beats(1.0, math.inf)
    assert not stats.matches_or_beats(math.inf, 1.0)
    assert stats.log_ratio(math.inf, 1.0) == stats.LOG_CAP and stats.log_ratio(1.0, math.inf) == -stats.LOG_CAP
    assert stats.log_ratio(math.e, 1.0) == pytest.approx(1.0)


def _cell(lro, *baselines):
    return (list(lro), [list(b) for b in baselines])


def test_bootstrap_cell_count_certain_cells_do_not_move():
    better, worse = _cell([1.0] * 5, [2.0] * 5, [3.0] * 5), _cell([2.0] * 5, [1.0] * 5)
    out = stats.bootstrap_cell_count([[better, better], [worse]], draws=200)
    assert out == {"cells": 3, "draws": 200, "low": 2, "median": 2, "high": 2, "mean": 2.0}


def test_bootstrap_cell_count_a_close_cell_moves_with_the_seeds():
    # lropt wins by a lot on three seeds and loses by a lot on two: the median flips with the draw
    close = _cell([1.0, 1.0, 1.0, 9.0, 9.0], [2.0, 2.0, 2.0, 2.0, 2.0])
    certain = _cell([1.0] * 5, [2.0] * 5)
    a = stats.bootstrap_cell_count([[close, certain]], draws=2000, seed=3)
    assert a["low"] == 1 and a["high"] == 2 and 1.5 < a["mean"] < 2.0
    assert stats.bootstrap_cell_count([[close, certain]], draws=2000, seed=3) == a   # seeded: reproducible
    # a diverged run (inf, or NaN read as inf) loses its pair
    assert stats.bootstrap_cell_count([[_cell([math.nan] * 5, [1.0] * 5)]], draws=50)["high"] == 0


def test_bootstrap_cell_count_resamples_seeds_in_pairs():
    """lropt 5% below the baseline on every seed, with seeds far apart: a pairing of the same seeds
    always keeps it ahead; resampling the methods independently would not."""
    base = [1.0, 10.0, 100.0, 1000.0, 10000.0]
    one = stats.bootstrap_cell_count([[_cell([0.95 * b for b in base], base)]], draws=500)
    assert one["low"] == one["high"] == 1
    # tasks with different seed counts are each resampled on their own
    two = stats.bootstrap_cell_count([[_cell([0.95 * b for b in base], base)], [_cell([1.0, 2.0], [3.0, 4.0])]],
                                     draws=200)
    assert two["cells"] == 2 and two["low"] == two["high"] == 2


def test_bootstrap_cell_count_needs_paired_seeds():
    with pytest.raises(ValueError, match="one loss per seed"):
        stats.bootstrap_cell_count([[_cell([1.0, 2.0], [1.0])]])
    assert stats.bootstrap_cell_count([[], []])["cells"] == 0

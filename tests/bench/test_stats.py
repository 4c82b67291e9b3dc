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

"""compare end to end on a tiny synthetic task, both regimes, and the files it writes."""
import json
import math

import pytest

from lropt.bench.compare import compare, lr_grid, resolve_methods
from lropt.bench.report import rich_table, write_all
from lropt.logging import read_scalars
from lropt.tasks import get_task

METHODS = ["constant", "step", "cosine"]


@pytest.fixture(scope="module")
def result():
    calls = []
    res = compare([get_task("quadratic-10d")], controller="identity", methods=METHODS, seeds=2,
                  lr_factors=(0.1, 1.0, 10.0), regime="both", tune_grid_points=3, tune_seeds=1, steps=30,
                  eval_every=5, threads=1, progress=lambda done, total, label: calls.append((done, total)))
    res["_calls"] = calls
    return res


def test_lr_grid_is_half_a_decade_apart_and_centred():
    grid = lr_grid(1e-3, 7)
    assert grid[3] == pytest.approx(1e-3)
    assert all(b / a == pytest.approx(10 ** 0.5) for a, b in zip(grid, grid[1:]))
    assert grid[0] == pytest.approx(1e-3 * 10 ** -1.5)


def test_methods_always_include_lropt_first():
    assert resolve_methods(["cosine", "lropt", "cosine"]) == ["lropt", "cosine"]
    with pytest.raises(ValueError, match="did you mean"):
        resolve_methods(["cosinee"])


def test_cells_cover_every_regime_factor_and_method(result):
    task = result["tasks"]["quadratic-10d"]
    keys = {(c["regime"], c["lr_factor"], c["method"]) for c in task["cells"]}
    assert keys == {(r, f, m) for r in ("defaults", "tuned") for f in (0.1, 1.0, 10.0) for m in ["lropt", *METHODS]}
    for c in task["cells"]:
        assert len(c["final_val_loss_all"]) == 2 and len(c["runs"]) == 2 and c["seeds"] == [0, 1]
        assert {"best_val_loss", "steps_to_target", "speedup", "divergences", "wall_s", "reached"} <= c.keys()


def test_tuning_picks_the_best_median_and_lropt_is_not_tuned(result):
    task = result["tasks"]["quadratic-10d"]
    for m in METHODS:
        t = task["tuning"][m]
        assert len(t["grid"]) == 3 and t["seeds"] == [10_000]
        finite = [v for v in t["median_final_val_loss"] if math.isfinite(v)]
        assert t["median_final_val_loss"][t["best_index"]] == min(finite)
        tuned = next(c for c in task["cells"] if c["regime"] == "tuned" and c["lr_factor"] == 1.0 and c["method"] == m)
        assert tuned["base_lr"] == pytest.approx(t["best_lr"])
    assert "lropt" not in task["tuning"]
    lro = [c for c in task["cells"] if c["method"] == "lropt" and c["lr_factor"] == 1.0]
    assert {c["base_lr"] for c in lro} == {task["default_lr"]}


def test_target_headline_and_identity_matches_constant(result):
    task = result["tasks"]["quadratic-10d"]
    assert task["target"]["regime"] == "tuned" and task["target"]["method"] in METHODS
    heads = {(h["regime"], h["lr_factor"]): h for h in task["headline"]}
    assert len(heads) == 6
    cells = {(c["regime"], c["lr_factor"], c["method"]): c for c in task["cells"]}
    for (regime, f), head in heads.items():
        classic = {m: cells[(regime, f, m)]["final_val_loss"] for m in METHODS}
        assert head["best_classic"] == min(classic.values())
        assert head["matches_or_beats"] == (head["lropt"] <= head["best_classic"] * 1.01)
        if regime == "defaults":  # identity controller == constant LR, bit for bit
            lro, const = cells[(regime, f, "lropt")], cells[(regime, f, "constant")]
            assert lro["final_val_loss_all"] == const["final_val_loss_all"]
    summary = result["summary"]["defaults"]["headline"]
    assert summary["cells"] == 3
    assert summary["fraction"] == sum(heads[("defaults", f)]["matches_or_beats"] for f in (0.1, 1.0, 10.0)) / 3
    boot = summary["seed_bootstrap"]
    assert boot["cells"] == 3 and 0 <= boot["low"] <= boot["median"] <= boot["high"] <= 3
    assert result["summary"]["defaults"]["pooled_vs_baseline"]["constant"]["wilcoxon"]["p_value"] == 1.0


def test_progress_reaches_its_total_and_duplicates_run_once(result):
    calls = result["_calls"]
    done, total = calls[-1]
    assert done == total == result["meta"]["runs"]
    # tuning 3 methods x 3 LRs x 1 seed, then at most 2 regimes x 3 factors x 4 methods x 2 seeds (lropt shared)
    assert done <= 9 + 2 * 3 * 4 * 2 - 3 * 2


def test_files_hold_the_right_keys(result, tmp_path):
    result = {k: v for k, v in result.items() if k != "_calls"}
    paths = write_all(result, tmp_path, command="lropt compare --task quadratic-10d")
    data = json.loads(paths["json"].read_text())
    assert {"meta", "tasks", "summary"} <= data.keys()
    task = data["tasks"]["quadratic-10d"]
    assert {"target", "cells", "headline", "tests", "tuning", "peer"} <= task.keys()
    run = task["cells"][0]["runs"][0]
    assert {"eval_steps", "val_loss", "lr_steps", "lr", "multiplier", "diverged"} <= run.keys()
    md = paths["markdown"].read_text()
    assert "### quadratic-10d" in md and "| regime | LR x | method |" in md and "**lropt**" in md
    assert "(seeds resampled: " in md
    assert paths["png"].stat().st_size > 10_000
    scalars = read_scalars(tmp_path / "tb" / "quadratic-10d", prefix="compare/")
    for m in ["lropt", *METHODS]:
        assert f"{m}:compare/val_loss" in scalars and f"{m}:compare/lr" in scalars
        assert f"{m}:compare/tuned/x0.1/val_loss" in scalars
    assert "lropt:compare/multiplier" in scalars
    assert rich_table(result).row_count == 24

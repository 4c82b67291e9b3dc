"""tools/cells_against.py: a candidate's lropt cells against another run's best classic schedule."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from cells_against import count_cells, count_pairs  # noqa: E402


def cell(method, factor, loss, divergences=0):
    return {"regime": "defaults", "lr_factor": factor, "method": method, "final_val_loss": loss,
            "divergences": divergences}


REFERENCE = {"tasks": {"t": {"cells": [
    cell("constant", 1.0, 1.00), cell("cosine", 1.0, 0.90), cell("onecycle", 1.0, 0.50),  # onecycle: not classic
    cell("constant", 10.0, float("nan")), cell("step", 10.0, 2.00), cell("lropt", 10.0, 0.1),
]}}}


def candidate(at_1, at_10, divergences=0):
    return {"tasks": {"t": {"cells": [cell("lropt", 1.0, at_1), cell("lropt", 10.0, at_10, divergences),
                                      cell("constant", 1.0, 0.1)]}}}


def test_the_best_classic_sets_the_bar_with_a_one_percent_tolerance():
    got = count_cells(REFERENCE, candidate(0.908, 2.03, divergences=2))
    by_factor = {r["lr_factor"]: r for r in got["cells"]}
    assert by_factor[1.0]["best_method"] == "cosine" and by_factor[1.0]["matches_or_beats"]   # +0.9%: within
    assert by_factor[10.0]["best_method"] == "step" and not by_factor[10.0]["matches_or_beats"]  # NaN is no best
    assert (got["matched"], got["total"], got["divergences"]) == (1, 2, 2)
    assert not count_cells(REFERENCE, candidate(0.91, 1.0))["cells"][0]["matches_or_beats"]  # +1.1%: lost


def test_cells_can_be_judged_on_the_best_validation_loss_instead_of_the_final_one():
    """A run that ends 5% above the best classic's final loss but touched a lower loss on the way wins on
    ``loss="best"`` (what a run that keeps its best checkpoint ends with) and loses on the default."""
    ref = {"tasks": {"t": {"cells": [{**cell("constant", 1.0, 1.00), "best_val_loss": 0.95}]}}}
    cand = {"tasks": {"t": {"cells": [{**cell("lropt", 1.0, 1.05), "best_val_loss": 0.94}]}}}
    assert not count_cells(ref, cand)["cells"][0]["matches_or_beats"]
    best = count_cells(ref, cand, loss="best")["cells"][0]
    assert best["matches_or_beats"] and (best["lropt"], best["best"]) == (0.94, 0.95)
    assert count_pairs([(ref, cand), (ref, cand)], loss="best")["matched"] == 2
    with pytest.raises(ValueError, match="loss must be one of final, best"):
        count_cells(ref, cand, loss="last")


def test_a_missing_task_or_cell_is_named():
    with pytest.raises(ValueError, match="task 't' is in the reference run but not in the candidate's"):
        count_cells(REFERENCE, {"tasks": {}})
    partial = {"tasks": {"t": {"cells": [cell("lropt", 1.0, 0.9)]}}}
    with pytest.raises(ValueError, match=r"t x10.0: the candidate run has no lropt cell"):
        count_cells(REFERENCE, partial)


def test_the_script_prints_the_count_and_writes_json(tmp_path):
    ref, cand, out = tmp_path / "ref.json", tmp_path / "cand.json", tmp_path / "cells.json"
    ref.write_text(json.dumps(REFERENCE))
    cand.write_text(json.dumps(candidate(0.8, 1.9)))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "cells_against.py"), str(ref), str(cand),
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "cells matched or beaten: 2/2" in proc.stdout
    assert json.loads(out.read_text())["matched"] == 2
    bad = subprocess.run([sys.executable, str(ROOT / "tools" / "cells_against.py"), str(ref), str(tmp_path / "x")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "No such file" in bad.stderr and "Traceback" not in bad.stderr


def curve_cell(factor, val_losses, *, method="lropt"):
    """An lropt cell whose runs evaluate at steps 0, 10, 20, ..."""
    runs = [{"eval_steps": list(range(0, 10 * len(v), 10)), "val_loss": v} for v in val_losses]
    return {**cell(method, factor, min(val_losses[0])), "runs": runs}


def with_target(run, val_loss=0.5, steps=40):
    return {"tasks": {t: {**body, "cells": list(body["cells"]),   # a copy: tests may replace a cell
                          "target": {"val_loss": val_loss, "steps": steps, "method": "cosine",
                                     "regime": "defaults", "lr_factor": 1.0}}
                      for t, body in run["tasks"].items()}}


def test_speedup_is_the_reference_steps_over_the_candidates_median_steps_to_the_reference_target():
    fast = [1.0, 0.6, 0.5, 0.4]        # reaches 0.5 at step 20
    slow = [1.0, 0.9, 0.8, 0.45]       # at step 30
    never = [1.0, 0.9, 0.8, 0.7]
    cand = {"tasks": {"t": {"cells": [curve_cell(1.0, [fast, slow, never]), cell("lropt", 10.0, 2.0)]}}}
    got = count_cells(with_target(REFERENCE), cand)["speedups"]
    assert len(got) == 1
    s = got[0]
    assert (s["steps"], s["reached"], s["runs"], s["target_method"]) == (30, 2, 3, "cosine")
    assert s["speedup"] == pytest.approx(40 / 30)
    # No target in the reference, or no per-run curves in the candidate: no speedup row.
    assert count_cells(REFERENCE, cand)["speedups"] == []
    assert count_cells(with_target(REFERENCE), candidate(0.9, 2.0))["speedups"] == []


def test_pairs_are_counted_together_and_a_task_not_reached_counts_as_zero_in_the_median():
    reached = {"tasks": {"t": {"cells": [curve_cell(1.0, [[1.0, 0.5]] * 3), cell("lropt", 10.0, 2.0)]}}}
    missed = {"tasks": {"t": {"cells": [curve_cell(1.0, [[1.0, 0.9]] * 3), cell("lropt", 10.0, 2.0)]}}}
    ref = with_target(REFERENCE, steps=40)
    got = count_pairs([(ref, reached), (ref, reached), (ref, missed)])
    assert got["total"] == 6 and [s["speedup"] for s in got["speedups"]] == [4.0, 4.0, None]
    assert got["median_speedup"] == 4.0
    assert count_pairs([(ref, reached), (ref, missed)])["median_speedup"] == 2.0  # (4 + 0) / 2


def test_the_script_takes_several_pairs_and_refuses_an_odd_count(tmp_path):
    ref, cand = tmp_path / "ref.json", tmp_path / "cand.json"
    ref.write_text(json.dumps(with_target(REFERENCE)))
    cand.write_text(json.dumps({"tasks": {"t": {"cells": [curve_cell(1.0, [[1.0, 0.5, 0.4]] * 3),
                                                          cell("lropt", 10.0, 1.9)]}}}))
    script = [sys.executable, str(ROOT / "tools" / "cells_against.py")]
    proc = subprocess.run([*script, str(ref), str(cand), str(ref), str(cand)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "cells matched or beaten: 4/4" in proc.stdout
    assert "median steps-to-target speedup over 2 tasks (not reached counted as 0): 4x" in proc.stdout
    odd = subprocess.run([*script, str(ref), str(cand), str(ref)], capture_output=True, text=True, cwd=ROOT)
    assert odd.returncode == 2 and "come in pairs" in odd.stderr and "got 3" in odd.stderr


def test_a_target_slack_loosens_the_target_for_the_reference_and_the_candidate_alike():
    ref = with_target(REFERENCE, val_loss=0.5, steps=30)
    ref["tasks"]["t"]["cells"][1] = curve_cell(1.0, [[1.0, 0.6, 0.504, 0.5]] * 3, method="cosine")
    cand = {"tasks": {"t": {"cells": [curve_cell(1.0, [[1.0, 0.503, 0.45]] * 3), cell("lropt", 10.0, 2.0)]}}}
    exact = count_cells(ref, cand)["speedups"][0]
    assert (exact["target_steps"], exact["steps"], exact["speedup"]) == (30, 20, 1.5)
    loose = count_cells(ref, cand, slack=0.01)["speedups"][0]   # target 0.505: cosine at 20, lropt at 10
    assert loose["target"] == pytest.approx(0.505)
    assert (loose["target_steps"], loose["steps"], loose["speedup"]) == (20, 10, 2.0)


def test_a_target_slack_without_the_references_curves_is_named():
    cand = {"tasks": {"t": {"cells": [curve_cell(1.0, [[1.0, 0.5]] * 3), cell("lropt", 10.0, 2.0)]}}}
    with pytest.raises(ValueError, match=r"t: --target-slack needs the per-run curves .*cosine"):
        count_cells(with_target(REFERENCE), cand, slack=0.01)


def curves(method, factor, val_losses):
    """A cell of three identical runs evaluated at steps 0, 10, 20, ..., with its best loss as compare writes it."""
    return {**curve_cell(factor, [val_losses] * 3, method=method), "best_val_loss": min(val_losses)}


def test_speedups_in_every_cell_use_the_best_classic_of_that_cell_as_target():
    ref = {"tasks": {"t": {"cells": [
        curves("constant", 1.0, [1.0, 0.7, 0.6]), curves("cosine", 1.0, [1.0, 0.8, 0.5]),      # target 0.5 at 20
        curves("constant", 10.0, [1.0, 0.4, 0.3, 0.35]), curves("step", 10.0, [1.0, 0.5, 0.45]),  # 0.3 at 20
        curves("onecycle", 10.0, [1.0, 0.1]),                                                 # not a classic
    ]}}}
    cand = {"tasks": {"t": {"cells": [curves("lropt", 1.0, [1.0, 0.5, 0.4]),
                                      curves("lropt", 10.0, [1.0, 0.6, 0.31])]}}}
    got = count_cells(ref, cand, speedup_at="all")
    by_factor = {s["lr_factor"]: s for s in got["speedups"]}
    at_1 = by_factor[1.0]
    assert (at_1["target_method"], at_1["target"], at_1["speedup"]) == ("cosine", 0.5, 2.0)
    assert (by_factor[10.0]["target_method"], by_factor[10.0]["target_steps"]) == ("constant", 20)
    assert by_factor[10.0]["speedup"] is None and got["median_speedup"] == 1.0   # (2 + 0) / 2
    assert count_cells(ref, cand)["speedups"] == []      # the reference run recorded no target of its own
    with pytest.raises(ValueError, match="speedup_at must be one of centre, all"):
        count_cells(ref, cand, speedup_at="edge")
    # the best classic (a tie, broken by name) without curves is named; another's missing curves do not matter
    no_curves = {"tasks": {"t": {"cells": [{**cell("constant", 1.0, 0.5), "best_val_loss": 0.5},
                                           curves("cosine", 1.0, [1.0, 0.5])]}}}
    with pytest.raises(ValueError, match=r"t x1.0: .*curves of the reference's best classic there \(constant"):
        count_cells(no_curves, cand, speedup_at="all")
    no_curves["tasks"]["t"]["cells"][0]["best_val_loss"] = 0.6
    assert count_cells(no_curves, cand, speedup_at="all")["speedups"][0]["target_method"] == "cosine"


def test_per_cell_speedups_leave_out_a_cell_whose_best_classic_diverged_and_take_the_slack():
    diverged = {**curves("constant", 10.0, [1.0, float("nan")]), "best_val_loss": None}
    ref = {"tasks": {"t": {"cells": [curves("cosine", 1.0, [1.0, 0.6, 0.504, 0.5]), diverged]}}}
    cand = {"tasks": {"t": {"cells": [curves("lropt", 1.0, [1.0, 0.503, 0.45]), curves("lropt", 10.0, [1.0, 0.2])]}}}
    exact = count_cells(ref, cand, speedup_at="all")["speedups"]
    assert [(s["lr_factor"], s["target_steps"], s["steps"]) for s in exact] == [(1.0, 30, 20)]
    loose = count_cells(ref, cand, speedup_at="all", slack=0.01)["speedups"]     # 0.505: cosine at 20, lropt at 10
    assert [(s["target_steps"], s["steps"], s["speedup"]) for s in loose] == [(20, 10, 2.0)]


def test_a_results_file_without_the_judged_loss_is_named():
    old = {"tasks": {"t": {"cells": [cell("constant", 1.0, 1.0), cell("lropt", 1.0, 0.9)]}}}
    with pytest.raises(ValueError, match="constant cell at x1.0 has no 'best_val_loss'"):
        count_cells(old, old, loss="best")


def test_the_script_prints_the_median_per_lr_factor_with_speedups_in_every_cell(tmp_path):
    ref, cand = tmp_path / "ref.json", tmp_path / "cand.json"
    ref.write_text(json.dumps({"tasks": {"t": {"cells": [curves("cosine", 1.0, [1.0, 0.8, 0.5]),
                                                         curves("step", 10.0, [1.0, 0.5, 0.45])]}}}))
    cand.write_text(json.dumps({"tasks": {"t": {"cells": [curves("lropt", 1.0, [1.0, 0.5]),
                                                          curves("lropt", 10.0, [1.0, 0.9])]}}}))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "cells_against.py"), str(ref), str(cand),
                           "--speedup-at", "all"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "median steps-to-target speedup over 2 cells (not reached counted as 0): 1x" in proc.stdout
    assert "at LR x1: 2x over 1 tasks" in proc.stdout and "at LR x10: 0x over 1 tasks" in proc.stdout
    out = tmp_path / "cells.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "cells_against.py"), str(ref), str(cand), "--loss", "best",
                    "--speedup-at", "all", "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    written = json.loads(out.read_text())
    assert (written["loss"], written["speedup_at"], written["regime"], written["target_slack"]) == (
        "best", "all", "defaults", 0.0)
    assert written["median_speedup"] == 1.0 and len(written["speedups"]) == 2

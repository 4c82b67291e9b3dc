"""tools/cells_against.py: a candidate's lropt cells against another run's best classic schedule."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from cells_against import count_cells  # noqa: E402


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

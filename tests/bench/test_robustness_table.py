"""tools/robustness_table.py: every method with its base LR off by 10x from tuned, relative to tuned."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from robustness_table import main, robustness_table, task_reference  # noqa: E402

from lropt.bench.results_files import merge_tasks  # noqa: E402


def cell(method, factor, final, divergences=0, regime="tuned"):
    return {"regime": regime, "lr_factor": factor, "method": method, "base_lr": 1e-3 * factor,
            "final_val_loss": final, "seeds": [0, 1, 2], "divergences": divergences}


def task(name, finals: dict):
    """finals: method -> (x0.1, x1, x10) median final losses (None: the median run diverged)."""
    cells = [cell(m, f, v, divergences=int(v is None)) for m, vals in finals.items()
             for f, v in zip((0.1, 1.0, 10.0), vals)]
    return {"name": name, "cells": cells}


def run(tasks, regimes=("tuned",), factors=(0.1, 1.0, 10.0)):
    return {"meta": {"regimes": list(regimes), "rel_tol": 0.01, "optimizer": "adamw", "seeds": [0, 1, 2],
                     "lr_factors": list(factors)},
            "tasks": {t["name"]: t for t in tasks}}


T1 = task("t1", {"lropt": (0.52, 0.40, 0.55), "constant": (0.80, 0.50, 0.60), "cosine": (0.70, 0.45, None)})
T2 = task("t2", {"lropt": (1.00, 1.00, 1.00), "constant": (4.00, 1.00, 2.00), "cosine": (3.00, 2.00, 1.50)})


def test_reference_is_the_tuned_baseline_lowest_at_x1_never_lropt():
    assert task_reference(T1) == {"method": "cosine", "base_lr": 1e-3, "final_val_loss": 0.45}
    # a defaults-regime cell lower than every tuned one is not the tuned best
    t = {"name": "t", "cells": T1["cells"] + [cell("step", 1.0, 0.1, regime="defaults")]}
    assert task_reference(t)["method"] == "cosine"


def test_ratios_medians_worst_within_and_divergences():
    result = robustness_table({"t1": T1, "t2": T2})
    lropt, cosine, constant = (result["methods"][m] for m in ("lropt", "cosine", "constant"))
    # lropt x10: 0.55/0.45 and 1.00/1.00
    assert lropt["10.0"]["median_vs_tuned_best"] == pytest.approx((0.55 / 0.45 + 1.0) / 2)
    assert lropt["10.0"]["worst_vs_tuned_best"] == pytest.approx(0.55 / 0.45)
    assert lropt["10.0"]["within"] == 1                                  # t2 exactly at the reference
    assert lropt["1.0"]["within"] == 2                                   # 0.40 below 0.45; 1.00 at 1.00
    assert lropt["10.0"]["median_vs_own_x1"] == pytest.approx((0.55 / 0.40 + 1.0) / 2)
    # cosine x10 diverged on t1: infinitely worse, counted, and its own ratio too (median of inf and 0.75)
    assert math.isinf(cosine["10.0"]["worst_vs_tuned_best"])
    assert math.isinf(cosine["10.0"]["median_vs_own_x1"]) and cosine["10.0"]["own_tasks"] == 2
    assert cosine["10.0"]["divergences"] == 1 and cosine["10.0"]["runs"] == 6
    assert constant["0.1"]["median_vs_tuned_best"] == pytest.approx((0.80 / 0.45 + 4.0) / 2)
    assert constant["0.1"]["median_vs_own_x1"] == pytest.approx((0.80 / 0.50 + 4.0) / 2)


def test_a_method_whose_own_x1_diverged_has_no_own_ratio_there():
    t3 = task("t3", {"lropt": (1.0, 1.0, 1.0), "constant": (2.0, None, 3.0), "cosine": (1.5, 1.0, 1.2)})
    constant = robustness_table({"t2": T2, "t3": t3})["methods"]["constant"]
    assert constant["0.1"]["own_tasks"] == 1 and constant["0.1"]["tasks"] == 2
    assert constant["0.1"]["median_vs_own_x1"] == pytest.approx(4.0)        # t2 alone
    assert constant["0.1"]["median_vs_tuned_best"] == pytest.approx((4.0 + 2.0) / 2)


def test_a_task_whose_tuned_baselines_all_diverged_or_end_at_zero_is_named():
    t = task("bad", {"lropt": (1, 1, 1), "constant": (1, None, 1)})
    with pytest.raises(ValueError, match="'bad': every tuned baseline diverged"):
        robustness_table({"bad": t})
    t = task("zero", {"lropt": (1, 1, 1), "constant": (1, 0.0, 1), "cosine": (1, 0.2, 1)})
    with pytest.raises(ValueError, match="'zero': the tuned constant ends at a validation loss of 0.0"):
        robustness_table({"zero": t})


def test_files_without_the_tuned_regime_or_with_other_factors_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="d ran the defaults regime.*--regime tuned"):
        merge_tasks([("d", run([T1], regimes=("defaults",)))], regimes=("tuned",))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run([T1])))
    b.write_text(json.dumps(run([T2], factors=(0.5, 1.0, 2.0))))
    with pytest.raises(SystemExit) as info:
        main([str(a), str(b)])
    assert info.value.code == 2 and "b.json has lr_factors" in capsys.readouterr().err


def test_cli_prints_the_table_and_writes_null_for_a_diverged_ratio(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run([T1])))
    b.write_text(json.dumps(run([T2])))
    out = tmp_path / "rob.json"
    assert main([str(a), str(b), "--out", str(out)]) == 0
    rows = capsys.readouterr().out.splitlines()[-3:]
    assert [r.split()[0] for r in rows] == ["lropt", "constant", "cosine"]      # lropt first
    assert "div" not in rows[0] and " div " in rows[2]                       # cosine x10 shown diverged
    saved = json.loads(out.read_text())
    assert saved["methods"]["cosine"]["10.0"]["worst_vs_tuned_best"] is None
    assert saved["tasks"]["t2"]["reference"]["method"] == "constant"


def test_cli_names_a_file_that_is_not_a_results_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "robustness_table.py"), str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "is not a results.json" in proc.stderr

"""tools/peer_table.py: every method at its defaults against the LR-tuned best schedule, over several runs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from peer_table import merge_tasks, peer_table  # noqa: E402


def entry(speedup, matches):
    return {"final_val_loss": 0.5, "reference_final_val_loss": 0.5, "matches_or_beats": matches,
            "steps_to_target": None if speedup is None else 10, "speedup": speedup}


def run(tasks, regimes=("defaults", "tuned"), rel_tol=0.01):
    return {"meta": {"regimes": list(regimes), "rel_tol": rel_tol, "optimizer": "adamw", "seeds": [0, 1, 2, 3, 4]},
            "tasks": {name: {"target": {"regime": "tuned", "method": "cosine", "val_loss": 0.4, "steps": 20,
                                        "lr_factor": 1.0},
                             "peer": {m: entry(*p) for m, p in peer.items()}}
                      for name, peer in tasks.items()}}


def test_tasks_of_several_runs_are_counted_together_and_not_reached_counts_as_zero():
    a = run({"t1": {"lropt": (2.0, True), "prodigy": (None, False)},
             "t2": {"lropt": (None, True), "prodigy": (1.5, True)}})
    b = run({"t3": {"lropt": (1.5, False), "prodigy": (1.0, True)}})
    result = peer_table(merge_tasks([("a", a), ("b", b)]))
    lropt, prodigy = result["methods"]["lropt"], result["methods"]["prodigy"]
    assert (lropt["tasks"], lropt["matches_or_beats"], lropt["reached"]) == (3, 2, 2)
    assert lropt["median_speedup"] == pytest.approx(1.5)          # 0, 1.5, 2.0
    assert (prodigy["matches_or_beats"], prodigy["reached"]) == (2, 2)
    assert prodigy["median_speedup"] == pytest.approx(1.0)        # 0, 1.0, 1.5
    assert set(result["tasks"]) == {"t1", "t2", "t3"}


def test_a_method_missing_from_a_task_is_counted_over_the_tasks_it_has():
    result = peer_table(merge_tasks([("a", run({"t1": {"lropt": (2.0, True), "prodigy": (1.0, True)},
                                                "t2": {"lropt": (None, False)}}))]))
    assert (result["methods"]["prodigy"]["tasks"], result["methods"]["prodigy"]["reached"]) == (1, 1)
    assert result["methods"]["lropt"]["tasks"] == 2


def test_a_task_twice_a_run_without_both_regimes_or_mismatched_runs_are_named():
    a = run({"t1": {"lropt": (1.0, True)}})
    with pytest.raises(ValueError, match="'t1' is in more than one"):
        merge_tasks([("a", a), ("b", a)])
    for regimes in (["defaults"], ["tuned"]):
        with pytest.raises(ValueError, match="d ran the .* regime.*--regime both"):
            merge_tasks([("d", run({"t1": {"lropt": (1.0, True)}}, regimes=regimes))])
    with pytest.raises(ValueError, match="b has rel_tol=0.05"):
        merge_tasks([("a", a), ("b", run({"t2": {"lropt": (1.0, True)}}, rel_tol=0.05))])
    with pytest.raises(ValueError, match="x is not a results.json"):
        merge_tasks([("x", {"tasks": {}})])


def test_the_script_prints_lropt_first_and_writes_json(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(run({"t1": {"prodigy": (None, False), "lropt": (1.25, True)}})))
    out = tmp_path / "peer.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "peer_table.py"), str(path), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()[:2]
    assert header.split()[4:6] == ["lropt", "prodigy"]
    assert "1.25x*" in row and row.rstrip().endswith("-")
    assert json.loads(out.read_text())["methods"]["lropt"]["reached"] == 1
    script = [sys.executable, str(ROOT / "tools" / "peer_table.py")]
    bad = subprocess.run([*script, str(tmp_path / "missing.json")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "missing.json" in bad.stderr
    tuned_only = tmp_path / "tuned.json"
    tuned_only.write_text(json.dumps(run({"t1": {"lropt": (1.0, True)}}, regimes=["tuned"])))
    bad = subprocess.run([*script, str(tuned_only)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--regime both" in bad.stderr

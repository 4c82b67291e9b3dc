"""The benchmark scripts run end to end in --quick mode on the CPU and write the JSON they promise.

Only structure and sanity are asserted (keys present, numbers finite and
positive): timings on shared CI cores are too noisy for thresholds.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def run_tool(script: str, out: Path, *extra: str) -> dict:
    proc = run_script(script, "--quick", "--device", "cpu", "--out", str(out), *extra, timeout=120)
    assert "torch" in proc.stdout  # the table header names the torch version
    return json.loads(out.read_text())


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_bench_overhead_quick(tmp_path):
    report = run_tool("bench_overhead.py", tmp_path / "overhead.json")
    assert {"device", "device_name", "torch", "date"} <= set(report["machine"])
    rows = report["results"]
    assert {r["variant"] for r in rows} == {"every=1", "compile", "every=10"}
    for r in rows:
        assert r["workload"] == "tiny-mlp" and r["error"] is None, r
        for key in ("bare_ms", "wrapped_ms", "ratio", "bare_step_host_ms", "wrapped_step_host_ms", "params"):
            assert positive(r[key]), (key, r)
        assert math.isclose(r["ratio"], r["wrapped_ms"] / r["bare_ms"], rel_tol=1e-9)


def test_bench_overhead_accepts_a_controller_file(tmp_path):
    from lropt import LRController, save_controller

    path = save_controller(LRController(), tmp_path / "ctrl.pt")
    report = run_tool("bench_overhead.py", tmp_path / "overhead.json", "--controller", str(path),
                      "--variants", "every=1")
    assert report["config"]["controller"] == str(path)
    assert [r["error"] for r in report["results"]] == [None]


def test_bench_meta_quick(tmp_path):
    report = run_tool("bench_meta.py", tmp_path / "meta.json")
    assert {"device", "device_name", "torch", "date"} <= set(report["machine"])
    rows = report["results"]
    assert {(r["estimator"], r["requested_runs"]) for r in rows} == {("pes", 1), ("pes", 8), ("tbptt", 1), ("tbptt", 8)}
    for r in rows:
        assert r["error"] is None, r
        assert r["runs"] % 2 == 0 if r["estimator"] == "pes" else r["runs"] == r["requested_runs"]
        for key in ("inner_steps_per_s", "tasks_per_s", "outer_steps_per_s", "inner_steps", "seconds"):
            assert positive(r[key]), (key, r)
        # inner steps are counted as runs x steps: a whole number of steps per run
        assert r["inner_steps"] % r["runs"] == 0


def test_bench_meta_dist_quick(tmp_path):
    report = run_tool("bench_meta_dist.py", tmp_path / "meta_dist.json")
    rows = report["results"]
    assert [r["processes"] for r in rows] == [1, 2]
    for r in rows:
        assert positive(r["inner_steps_per_s"]) and r["groups"] == 2, r
        assert r["max_abs_diff"] < 1e-5, "2 processes must train the same controller as 1"
    assert rows[0]["inner_steps"] == rows[1]["inner_steps"], "same total task batch"


def test_score_controllers_scores_identity_as_constant(tmp_path):
    run_script("score_controllers.py", "identity", "--horizons", "20", "--jobs", "1",
               "--recipe", str(ROOT / "lropt/recipes/default.toml"), "--out", str(tmp_path / "s.json"))
    (row,) = json.loads((tmp_path / "s.json").read_text())["results"]
    assert row["horizon"] == 20 and row["score_vs_constant"] == 0.0, "the identity controller is the constant LR"


def test_ablate_observe_runs(tmp_path):
    run_script("ablate_observe.py", "--tasks", "teacher-mlp-small", "--seeds", "1", "--lr-factors", "1",
               "--out", str(tmp_path / "a.json"))
    (row,) = json.loads((tmp_path / "a.json").read_text())["results"]
    assert positive(row["best_classic"]) and positive(row["lropt_observe"]) and positive(row["lropt_no_observe"])

"""lropt.bench.journal and compare's resume: a killed comparison runs only what is missing, with the same numbers."""
import dataclasses
import json
import math
import sys

import pytest
from click.testing import CliRunner

from lropt.bench.compare import compare
from lropt.bench.journal import RunJournal, fingerprint
from lropt.bench.runner import RunResult
from lropt.cli import cli

compare_module = sys.modules["lropt.bench.compare"]    # lropt.bench.compare is also the function's name

FP = {"lropt_version": "x", "optimizer": "adamw", "controller": "none", "device": "cpu",
      "divergence_factor": "2.0", "tell_total_steps": True, "lropt_every": 1}
KW = dict(controller="default", methods=["constant", "cosine"], seeds=2, lr_factors=(0.1, 1.0), steps=20,
          eval_every=5, threads=1)


def result(seed, val_loss):
    return RunResult(task="t", method="constant", base_lr=1e-3, seed=seed, steps=20, optimizer="adamw",
                     eval_steps=[0, 10, 20], val_loss=val_loss, lr_steps=[0], lr=[1e-3], steps_done=20,
                     wall_s=0.5)


def as_json(run: RunResult) -> str:
    return json.dumps(dataclasses.asdict(run))         # NaN == NaN here, as it is not for ==


def test_runs_come_back_as_written_inf_and_nan_included(tmp_path):
    j = RunJournal(tmp_path / "runs.jsonl", FP)
    assert j.load() == {}
    a, b = result(0, [1.0, 0.5, 0.25]), result(1, [1.0, math.inf, math.nan])
    j.record(("t", "constant", 1e-3, 0, 20, 10), a)
    j.record(("t", "constant", 1e-3, 1, 20, 10), b)
    back = RunJournal(tmp_path / "runs.jsonl", FP).load()
    assert as_json(back[("t", "constant", 1e-3, 0, 20, 10)]) == as_json(a)
    again = back[("t", "constant", 1e-3, 1, 20, 10)]
    assert as_json(again) == as_json(b)
    assert again.val_loss[:2] == [1.0, math.inf] and math.isnan(again.val_loss[2])


def test_a_line_cut_off_by_a_kill_is_dropped_and_later_runs_still_read(tmp_path):
    path = tmp_path / "runs.jsonl"
    j = RunJournal(path, FP)
    j.load()
    j.record(("t", "constant", 1e-3, 0, 20, 10), result(0, [1.0]))
    with path.open("a") as fh:
        fh.write('{"key": ["t", "constant", 0.001, 1, 20, 10], "run": {"task"')     # killed mid-line
    j2 = RunJournal(path, FP)
    assert set(j2.load()) == {("t", "constant", 1e-3, 0, 20, 10)}
    j2.record(("t", "constant", 1e-3, 2, 20, 10), result(2, [2.0]))
    assert len(RunJournal(path, FP).load()) == 2


def test_another_comparisons_journal_is_named_and_fresh_starts_over(tmp_path):
    path = tmp_path / "runs.jsonl"
    j = RunJournal(path, FP)
    j.load()
    j.record(("t", "constant", 1e-3, 0, 20, 10), result(0, [1.0]))
    with pytest.raises(ValueError, match=r"another comparison \(optimizer: 'adamw' there, 'sgd' now\)"):
        RunJournal(path, {**FP, "optimizer": "sgd"}).load()
    assert RunJournal(path, {**FP, "optimizer": "sgd"}, fresh=True).load() == {}
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="is not a run journal"):
        RunJournal(path, FP).load()


def test_the_fingerprint_tells_retrained_weights_apart():
    from lropt.controller_file import resolve_controller

    ctrl = resolve_controller("default")
    base = fingerprint(optimizer="adamw", controller=ctrl, device=None, divergence_factor=2.0,
                       tell_total_steps=True, lropt_every=1)
    other = resolve_controller("default")
    assert fingerprint(optimizer="adamw", controller=other, device=None, divergence_factor=2.0,
                       tell_total_steps=True, lropt_every=1) == base
    with __import__("torch").no_grad():
        next(other.parameters()).add_(1e-6)
    assert fingerprint(optimizer="adamw", controller=other, device=None, divergence_factor=2.0,
                       tell_total_steps=True, lropt_every=1)["controller"] != base["controller"]


class Killed(Exception):
    pass


def test_a_killed_compare_resumes_with_only_the_missing_runs_and_the_same_numbers(tmp_path, monkeypatch):
    whole = compare(["quadratic-10d"], **KW)
    calls = []
    real = compare_module.run_method
    monkeypatch.setattr(compare_module, "run_method", lambda *a, **k: calls.append(1) or real(*a, **k))

    def kill_after_five(done, total, label):
        if done == 5:
            raise Killed

    with pytest.raises(Killed):
        compare(["quadratic-10d"], **KW, journal=tmp_path / "runs.jsonl", progress=kill_after_five)
    first = len(calls)
    resumed = compare(["quadratic-10d"], **KW, journal=tmp_path / "runs.jsonl")
    total = whole["meta"]["runs"]
    assert resumed["meta"]["runs"] == total - 5 and resumed["meta"]["resumed_runs"] == 5
    assert len(calls) - first == total - 5 + len(KW["methods"]) + 1    # plus the untimed warm-up runs
    cells = lambda r: [(c["regime"], c["lr_factor"], c["method"], c["final_val_loss_all"], c["best_val_loss_all"])
                       for c in r["tasks"]["quadratic-10d"]["cells"]]
    assert cells(resumed) == cells(whole)


def test_cli_resumes_from_out_and_fresh_runs_everything(tmp_path):
    args = ["compare", "--task", "quadratic-10d", "--methods", "constant", "--seeds", "2", "--steps", "20",
            "--lr-factors", "1", "--out", str(tmp_path)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "resuming: 4 finished runs" in again.output and "0 runs in" in again.output
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["resumed_runs"] == 4
    fresh = CliRunner().invoke(cli, [*args, "--fresh"])
    assert fresh.exit_code == 0 and "resuming" not in fresh.output and "4 runs in" in fresh.output
    other = CliRunner().invoke(cli, [*args, "--optimizer", "sgd"])
    assert other.exit_code == 2 and "holds runs of another comparison (optimizer" in other.output


def test_cli_stopped_by_ctrl_c_says_where_the_runs_are_kept(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "compare", interrupted)
    out = CliRunner().invoke(cli, ["compare", "--task", "quadratic-10d", "--out", str(tmp_path)])
    assert out.exit_code == 130
    assert f"the finished runs are kept in {tmp_path / 'runs.jsonl'}" in " ".join(out.output.split())

"""lropt.bench.journal and compare's resume: a killed comparison runs only what is missing, with the same numbers,
and a run is reused only where everything that decides it is the same."""
import dataclasses
import json
import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lropt.bench.compare import compare
from lropt.bench.journal import JournalBusy, RunJournal, controller_digest, environment, run_key
from lropt.bench.runner import RunResult
from lropt.cli import cli
from lropt.controller_file import resolve_controller
from lropt.tasks import get_task

compare_module = sys.modules["lropt.bench.compare"]    # lropt.bench.compare is also the function's name
KW = dict(controller="default", methods=["constant", "cosine"], seeds=2, lr_factors=(0.1, 1.0), steps=20,
          eval_every=5, threads=1)
K1, K2, K3 = "a" * 16, "b" * 16, "c" * 16   # the length of a run key (cache_key)


def result(seed, val_loss):
    return RunResult(task="t", method="constant", base_lr=1e-3, seed=seed, steps=20, optimizer="adamw",
                     eval_steps=[0, 10, 20], val_loss=val_loss, lr_steps=[0], lr=[1e-3], steps_done=20,
                     wall_s=0.5)


def as_json(run: RunResult) -> str:
    return json.dumps(dataclasses.asdict(run))         # NaN == NaN here, as it is not for ==


def test_runs_come_back_as_written_inf_and_nan_included(tmp_path):
    a, b = result(0, [1.0, 0.5, 0.25]), result(1, [1.0, math.inf, math.nan])
    with RunJournal(tmp_path / "runs.jsonl") as j:
        assert len(j) == 0
        j.record(K1, a)
        j.record(K2, b)
        assert as_json(j.get(K2)) == as_json(b)          # readable in the same session too
    with RunJournal(tmp_path / "runs.jsonl") as j:
        assert as_json(j.get(K1)) == as_json(a) and as_json(j.get(K2)) == as_json(b)
        assert j.get(K3) is None and K1 in j and K3 not in j


def test_a_line_cut_off_by_a_kill_is_cut_away_and_a_damaged_one_skipped(tmp_path):
    path = tmp_path / "runs.jsonl"
    with RunJournal(path) as j:
        j.record(K1, result(0, [1.0]))
    with path.open("a") as fh:
        fh.write("garbage line\n")
        fh.write(K2 + '\t{"task": "t", "method"')                # killed mid-line
    with RunJournal(path) as j:
        assert len(j) == 1 and j.damaged == 1 and K2 not in j
        j.record(K3, result(2, [2.0]))
    assert path.read_text().endswith("\n")
    with RunJournal(path) as j:
        assert j.get(K1).seed == 0 and j.get(K3).seed == 2
    with RunJournal(path, fresh=True) as j:
        assert len(j) == 0


def test_a_second_writer_is_refused_while_the_first_holds_the_journal(tmp_path):
    path = tmp_path / "runs.jsonl"
    code = ("import sys; from lropt.bench.journal import RunJournal, JournalBusy\n"
            f"try:\n    RunJournal({str(path)!r}).__enter__()\nexcept JournalBusy as e:\n    print(e); sys.exit(3)")
    with RunJournal(path):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3 and "another lropt compare is writing to" in proc.stdout
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0      # free again


BASE = dict(method="constant", optimizer="adamw", base_lr=1e-3, seed=0, steps=20, eval_every=5,
            divergence_factor=2.0, lropt_settings={"controller": "x", "tell_total_steps": True, "lropt_every": 1})


@pytest.mark.parametrize("change", [
    {"optimizer": "adam"}, {"base_lr": 2e-3}, {"seed": 1}, {"steps": 21}, {"eval_every": 4},
    {"divergence_factor": 3.0}, {"method": "cosine"},
])
def test_everything_that_decides_a_run_is_in_its_key(change):
    env, task = environment(device=None, threads=1), get_task("quadratic-10d")
    assert run_key(env, task=task, **{**BASE, **change}) != run_key(env, task=task, **BASE)


def test_task_parameters_threads_and_lropt_settings_are_in_the_key():
    env, task = environment(device=None, threads=1), get_task("quadratic-10d")
    base = run_key(env, task=task, **BASE)
    assert run_key(env, task=get_task("quadratic-10d", data_seed=3), **BASE) != base      # same name
    assert run_key(environment(device=None, threads=2), task=task, **BASE) != base
    other = {**BASE, "lropt_settings": {**BASE["lropt_settings"], "lropt_every": 10}}
    assert run_key(env, task=task, **other) == base                         # a baseline: lropt's settings don't count
    lro = {**BASE, "method": "lropt"}
    assert run_key(env, task=task, **{**other, "method": "lropt"}) != run_key(env, task=task, **lro)


def test_the_controller_digest_tells_retrained_weights_apart():
    a, b = resolve_controller("default"), resolve_controller("default")
    assert controller_digest(a) == controller_digest(b) != controller_digest(resolve_controller("identity"))
    with __import__("torch").no_grad():
        next(b.parameters()).add_(1e-6)
    assert controller_digest(b) != controller_digest(a)


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
    totals = []
    resumed = compare(["quadratic-10d"], **KW, journal=tmp_path / "runs.jsonl",
                      progress=lambda done, total, label: totals.append((done, total)))
    total = whole["meta"]["runs"]
    assert resumed["meta"]["runs"] == total - 5 and resumed["meta"]["kept_runs"] == 5
    assert len(calls) - first == total - 5 + len(KW["methods"]) + 1    # plus the untimed warm-up runs
    assert totals[-1] == (total - 5, total - 5)                          # progress counts only what runs
    cells = lambda r: [(c["regime"], c["lr_factor"], c["method"], c["final_val_loss_all"], c["best_val_loss_all"])
                       for c in r["tasks"]["quadratic-10d"]["cells"]]
    assert cells(resumed) == cells(whole)
    # other steps: nothing is reused; another controller: only the baselines are
    assert compare(["quadratic-10d"], **{**KW, "steps": 25}, journal=tmp_path / "runs.jsonl")["meta"]["kept_runs"] == 0
    other = compare(["quadratic-10d"], **{**KW, "controller": "identity"}, journal=tmp_path / "runs.jsonl")
    assert other["meta"]["kept_runs"] == total - len(KW["lr_factors"]) * KW["seeds"]
    assert other["meta"]["runs"] == len(KW["lr_factors"]) * KW["seeds"]


def test_cli_resumes_from_out_and_fresh_runs_everything(tmp_path):
    args = ["compare", "--task", "quadratic-10d", "--methods", "constant", "--seeds", "2", "--steps", "20",
            "--lr-factors", "1", "--out", str(tmp_path)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, args)
    said = " ".join(again.output.split())
    assert again.exit_code == 0 and "0 runs in" in said and "4 more were kept in" in said
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["kept_runs"] == 4
    assert "4 more kept from an earlier start" in (tmp_path / "results.md").read_text()
    fresh = CliRunner().invoke(cli, [*args, "--fresh"])
    assert fresh.exit_code == 0 and "4 runs in" in fresh.output and "kept" not in fresh.output


def test_when_every_run_is_kept_nothing_trains_and_damaged_lines_are_reported(tmp_path, monkeypatch):
    args = ["compare", "--task", "quadratic-10d", "--methods", "constant", "--seeds", "2", "--steps", "20",
            "--lr-factors", "1", "--out", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    with open(tmp_path / "runs.jsonl", "a") as fh:
        fh.write("not a run\n")
    calls = []
    real = compare_module.run_method
    monkeypatch.setattr(compare_module, "run_method", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert calls == []                                   # not even the untimed warm-up
    assert "1 damaged lines in" in " ".join(again.output.split())
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["damaged_journal_lines"] == 1


def test_cuda_and_the_current_cuda_device_key_alike(monkeypatch):
    import torch

    from lropt.bench import journal as journal_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    name = journal_module._device_name
    assert name("cuda") == name("cuda:0") == name(torch.device("cuda")) == "cuda:0"
    assert name("cuda:1") == "cuda:1" and name(None) == name("cpu") == "cpu"


def test_cli_refuses_a_journal_another_compare_is_writing(tmp_path):
    with RunJournal(tmp_path / "runs.jsonl"):
        code = ("from lropt.cli import cli; cli(['compare', '--task', 'quadratic-10d', '--methods', 'constant', "
                f"'--seeds', '1', '--steps', '5', '--out', {str(tmp_path)!r}])")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2 and "another lropt compare is writing to" in proc.stderr


def test_cli_stopped_by_ctrl_c_says_where_the_runs_are_kept(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "compare", interrupted)
    out = CliRunner().invoke(cli, ["compare", "--task", "quadratic-10d", "--out", str(tmp_path)])
    assert out.exit_code == 130
    assert f"the finished runs are kept in {tmp_path / 'runs.jsonl'}" in " ".join(out.output.split())


def test_cli_a_full_disk_is_an_error_that_keeps_the_earlier_runs(tmp_path, monkeypatch):
    import errno

    from lropt.bench import journal as journal_module

    real, calls = journal_module.RunJournal.record, []

    def fill_up(self, key, run):
        calls.append(key)
        if len(calls) > 2:
            self._out.write = lambda data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
        real(self, key, run)

    monkeypatch.setattr(journal_module.RunJournal, "record", fill_up)
    out = CliRunner().invoke(cli, ["compare", "--task", "quadratic-10d", "--methods", "constant", "--seeds", "2",
                                   "--steps", "10", "--out", str(tmp_path)])
    said = " ".join(out.output.split())
    assert out.exit_code == 1 and "No space left on device" in said and "the runs before it are kept" in said
    with RunJournal(tmp_path / "runs.jsonl") as j:
        assert len(j) == 2

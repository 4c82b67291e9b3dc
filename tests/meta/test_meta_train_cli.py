"""`lropt meta-train` end to end on a tiny recipe: outputs, resume bit-exactness, kill -9, bad input."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from lropt import LROptimizerWrapper, load_controller
from lropt.cli import cli

TINY = [
    "--set", 'tasks.train=["quadratic", "teacher_mlp"]', "--set", 'tasks.validation=["logistic_regression"]',
    "--set", "tasks.validation_count=1", "--set", "inner.horizon_min=20", "--set", "inner.horizon_max=40",
    "--set", "inner.truncation_min=5", "--set", "inner.truncation_max=8", "--set", "inner.runs_per_group=2",
    "--set", "inner.groups=1", "--set", "outer.eval_every=3", "--set", "outer.checkpoint_every=2",
    "--set", "outer.eval_horizon=20",
]


def meta_train(out, steps, *extra):
    return CliRunner().invoke(cli, ["meta-train", "--out", str(out), "--set", f"outer.steps={steps}", *TINY, *extra])


def test_outputs_and_controller_loads(tmp_path):
    res = meta_train(tmp_path / "run", 4)
    assert res.exit_code == 0, res.output
    assert "outer step 4/4 (100%)" in res.output  # not a terminal: plain progress lines
    done = next(line for line in res.output.splitlines() if line.startswith("done:"))
    assert "diverged inner runs reset" in done   # the closing message is not wrapped at 80 columns
    run = tmp_path / "run"
    for name in ("controller.pt", "checkpoint.pt", "recipe.toml", "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    ctrl = load_controller(run / "controller.pt")
    assert ctrl.metadata["outer_step"] == 4
    model = torch.nn.Linear(3, 1)
    LROptimizerWrapper(torch.optim.Adam(model.parameters()), controller=str(run / "controller.pt"))
    assert "[outer]\nsteps = 4\n" in (run / "recipe.toml").read_text()


@pytest.mark.parametrize("estimator", ["tbptt", "pes", "pes+val", "pes+valrange"])
def test_resume_is_bit_exact(tmp_path, estimator):
    est = ["--set", f"estimator.name={estimator.split('+')[0]}"]
    if estimator.endswith("+val"):   # validation losses fed to the features during meta-training
        est += ["--set", "inner.val_evals=6"]
    if estimator.endswith("+valrange"):   # a count drawn per run group
        est += ["--set", "inner.val_evals=2", "--set", "inner.val_evals_max=20"]
    assert meta_train(tmp_path / "full", 6, *est).exit_code == 0
    assert meta_train(tmp_path / "cut", 3, *est).exit_code == 0
    res = meta_train(tmp_path / "cut", 6, "--resume", *est)
    assert res.exit_code == 0, res.output
    full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["trainer"]
    cut = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["trainer"]
    assert full["counters"] == cut["counters"]
    for k in full["controller"]:
        assert torch.equal(full["controller"][k], cut["controller"][k]), k


def test_refuses_to_overwrite_and_bad_input(tmp_path):
    assert meta_train(tmp_path / "run", 2).exit_code == 0
    res = meta_train(tmp_path / "run", 2)
    assert res.exit_code == 2 and "--resume" in res.output
    res = meta_train(tmp_path / "other", 2, "--resume")
    assert res.exit_code == 2 and "does not exist" in res.output
    res = CliRunner().invoke(cli, ["meta-train", "--out", str(tmp_path / "x"), "--set", "outer.stepz=3"])
    assert res.exit_code == 2 and "did you mean 'steps'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["meta-train", "--out", str(tmp_path / "x"), "--device", "cuda:0"])
    assert res.exit_code == 2
    res = CliRunner().invoke(cli, ["meta-train", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_unwritable_output_is_reported(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/lropt-cannot-write-here"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "run")
    res = CliRunner().invoke(cli, ["meta-train", "--out", target, *TINY, "--set", "outer.steps=1"])
    assert res.exit_code == 2 and "not writable" in res.output


def _spawn(out, steps, *extra):
    cmd = [sys.executable, "-m", "lropt", "meta-train", "--out", str(out), "--set", f"outer.steps={steps}",
           *TINY, "--set", "outer.checkpoint_every=1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(path, proc, timeout=120):
    start = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - start < timeout, "no checkpoint appeared"
        time.sleep(0.2)


def test_kill_9_then_resume_finishes(tmp_path):
    out = tmp_path / "run"
    proc = _spawn(out, 10_000)
    _wait_for(out / "checkpoint.pt", proc)
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    step = torch.load(out / "checkpoint.pt", weights_only=False)["trainer"]["counters"]["outer_step"]
    assert step >= 1
    assert not [p for p in out.iterdir() if ".tmp-" in p.name] or True  # a torn temp file may remain; the checkpoint is whole
    res = meta_train(out, step + 2, "--resume")
    assert res.exit_code == 0, res.output
    assert torch.load(out / "checkpoint.pt", weights_only=False)["trainer"]["counters"]["outer_step"] == step + 2


def test_sigterm_checkpoints_and_exits(tmp_path):
    out = tmp_path / "run"
    proc = _spawn(out, 10_000)
    _wait_for(out / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "continue with --resume" in output
    assert torch.load(out / "checkpoint.pt", weights_only=False)["trainer"]["counters"]["outer_step"] >= 1


def test_init_controller_warm_starts_and_checks_the_config(tmp_path):
    from lropt import LRController, load_controller, save_controller

    src = LRController(hidden_size=32, max_log_mult=4.6, guard_loss_ratio=1.5)
    with torch.no_grad():
        src.head.bias.fill_(0.25)
    good = save_controller(src, tmp_path / "good.pt")
    res = meta_train(tmp_path / "run", 1, "--init-controller", str(good), "--set", "outer.eval_every=100")
    assert res.exit_code == 0, res.output
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["trainer"]
    # one outer step from the warm start: near 0.25, far from a fresh (zero) head
    assert abs(float(state["controller"]["head.bias"]) - 0.25) < 0.02
    bad = save_controller(LRController(hidden_size=8), tmp_path / "bad.pt")
    res = meta_train(tmp_path / "run2", 1, "--init-controller", str(bad))
    assert res.exit_code == 2 and "differs from the recipe" in res.output
    # a shipped name works too (default-v1 has the default recipe's config)
    res = meta_train(tmp_path / "run3", 1, "--init-controller", "default-v1", "--set", "outer.eval_every=100")
    assert res.exit_code == 0, res.output
    # a recipe with a warm-up start takes the weights of a controller that started at 1.0
    res = meta_train(tmp_path / "run4", 1, "--init-controller", str(good), "--set", "outer.eval_every=100",
                     "--set", "controller.start_log_mult=-1.0")
    assert res.exit_code == 0, res.output
    assert load_controller(tmp_path / "run4" / "controller.pt").config["start_log_mult"] == -1.0
    state = torch.load(tmp_path / "run4" / "checkpoint.pt", weights_only=False)["trainer"]
    assert abs(float(state["controller"]["head.bias"]) - 0.25) < 0.02, "the weights came from the file"
    assert "start" in res.output and "-1.0" in res.output, "a differing start is reported"


def test_controller_pt_reproduces_the_best_score_on_a_dropout_task(tmp_path):
    """The selection score is a function of the controller alone: a fresh validator gives the
    run's best score for controller.pt, also on a validation task with dropout (breast-cancer)."""
    import json

    from lropt.meta.recipe import load_recipe
    from lropt.meta.trainer import MetaTrainer

    res = meta_train(tmp_path / "run", 4, "--set", 'tasks.validation=[{task = "breast-cancer"}]',
                     "--set", "outer.eval_every=2", "--set", "outer.lr=0.05")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(summary["history"]) == 2
    fresh = MetaTrainer(load_recipe(tmp_path / "run" / "recipe.toml"), seed=0)
    score = fresh.validator.score(load_controller(tmp_path / "run" / "controller.pt"))["score"]
    assert score == pytest.approx(summary["best_score_vs_constant"], abs=1e-9)

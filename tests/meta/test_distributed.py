"""Distributed meta-training equals single-process meta-training (2 gloo ranks on CPU)."""
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lropt.meta.recipe import from_dict, load_recipe
from lropt.meta.trainer import MetaTrainer

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")

STEPS, STOP_AT = 8, 5


def tiny_recipe(estimator: str) -> dict:
    r = load_recipe().to_dict()
    # wine's MLP has dropout: its masks must not depend on which rank runs the group
    r["tasks"].update(train=["quadratic", {"task": "wine"}], validation=["logistic_regression", {"task": "wine"}],
                      validation_count=2)
    r["inner"].update(horizon_min=20, horizon_max=40, truncation_min=5, truncation_max=8, runs_per_group=4,
                      groups=4, hide_progress=0.0)
    r["estimator"]["name"] = estimator
    r["outer"].update(eval_horizon=20)
    return r


def assert_close_tree(a, b, where=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_close_tree(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close_tree(x, y, f"{where}/{i}")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True), where
        else:
            assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("estimator", ["pes", "tbptt"])
def test_two_ranks_equal_one_process(tmp_path, estimator):
    import meta_dist_worker

    recipe = tiny_recipe(estimator)
    mp.spawn(meta_dist_worker.worker, nprocs=2, join=True,
             args=(2, str(tmp_path / "rendezvous"), str(tmp_path), recipe, STEPS, STOP_AT))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))

    torch.set_num_threads(1)
    single = MetaTrainer(from_dict(recipe), seed=0)
    infos = []
    for s in range(STEPS):
        infos.append(single.outer_step())
        if s == 2:
            single.validate()

    assert r0["owned"] == [0, 2] and r1["owned"] == [1, 3], "groups are sharded by index"
    for k in r0["controller"]:   # the ranks stay identical, bit for bit
        assert torch.equal(r0["controller"][k], r1["controller"][k]), k
    assert_close_tree(r0["controller"], single.controller.state_dict(), "controller")
    assert r0["counters"].history == single.counters.history and len(single.counters.history) == 1
    r1["counters"].history, r1["counters"].best_score, r1["counters"].best_step = [], math.inf, -1
    for c in (r0["counters"], single.counters):   # only rank 0 validates
        c.history, c.best_score, c.best_step = [], math.inf, -1
    assert r0["counters"] == r1["counters"] == single.counters
    assert single.counters.groups_started > 4, "some groups finished and were redrawn"
    for a, b in zip(r0["infos"], infos):
        assert a["meta_loss"] == pytest.approx(b["meta_loss"], rel=1e-5)
        assert a["inner_steps"] == b["inner_steps"]
    # a stop asked for on rank 1 alone reaches every rank at the same step
    assert [i["stop"] for i in r0["infos"]] == [s == STOP_AT for s in range(STEPS)]
    assert r0["infos"] == r1["infos"]
    # rank 0 gathers every rank's groups: the same checkpoint state a single process writes
    assert r1["state"] is None
    state = single.state_dict()
    assert [g is None for g in r0["state"]["groups"]] == [g is None for g in state["groups"]]
    assert_close_tree(r0["state"]["groups"], state["groups"], "groups")
    assert r0["state"]["rng"] == state["rng"]


def lropt_cmd(*args):
    return [sys.executable, "-m", "lropt", "meta-train", "--threads", "1", *args]


TINY = ["--set", 'tasks.train=["quadratic", "teacher_mlp"]', "--set", 'tasks.validation=["logistic_regression"]',
        "--set", "tasks.validation_count=1", "--set", "inner.horizon_min=20", "--set", "inner.horizon_max=40",
        "--set", "inner.truncation_min=5", "--set", "inner.truncation_max=8", "--set", "inner.runs_per_group=2",
        "--set", "inner.groups=3", "--set", "outer.eval_every=2", "--set", "outer.checkpoint_every=2",
        "--set", "outer.eval_horizon=20"]


def test_torchrun_cli_writes_once_and_resumes_on_any_world_size(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cut, full = tmp_path / "cut", tmp_path / "full"
    res = subprocess.run(torchrun + lropt_cmd("--out", str(cut), "--set", "outer.steps=3", *TINY)[1:],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = " ".join(res.stdout.split())   # rich wraps long lines at the terminal width
    assert out.count("meta-training") == 1, "rank 0 alone prints"
    assert "2 processes" in out
    assert len(list((cut / "tb").glob("events.out.tfevents.*"))) == 1, "rank 0 alone writes TensorBoard"
    assert not list(cut.glob(".write-test*"))
    saved = torch.load(cut / "checkpoint.pt", weights_only=False)["trainer"]
    assert saved["counters"]["outer_step"] == 3
    # continue the 2-process run in one process; it must match a 1-process run of the same length
    for cmd in (lropt_cmd("--out", str(cut), "--resume", "--set", "outer.steps=5", *TINY),
                lropt_cmd("--out", str(full), "--set", "outer.steps=5", *TINY)):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
    a = torch.load(cut / "checkpoint.pt", weights_only=False)["trainer"]
    b = torch.load(full / "checkpoint.pt", weights_only=False)["trainer"]
    assert a["counters"]["inner_steps"] == b["counters"]["inner_steps"]
    assert_close_tree(a["controller"], b["controller"], "controller")

"""A checkpoint stripped of its inner runs resumes the outer loop with fresh runs."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lropt.meta.recipe import load_recipe
from lropt.meta.run import MetaRun, RunError, strip_inner_runs

from common import TINY_META

TINY = TINY_META + ["inner.runs_per_group=4", "inner.groups=2"]   # two groups of mid-horizon runs

TOOL = Path(__file__).resolve().parents[2] / "tools" / "strip_checkpoint.py"


def test_stripped_checkpoint_keeps_the_outer_state_and_resumes_with_fresh_runs(tmp_path):
    run = MetaRun(load_recipe(None, TINY + ["outer.steps=2"]), tmp_path / "a")
    run.train()
    run.close()
    full = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["trainer"]
    assert any(g is not None for g in full["groups"])   # mid-horizon runs were saved

    (tmp_path / "b").mkdir()
    before, after = strip_inner_runs(tmp_path / "a" / "checkpoint.pt", tmp_path / "b" / "checkpoint.pt")
    assert after < before
    light = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["trainer"]
    assert light["groups"] == [None, None]
    for key in ("controller", "best_state"):
        assert all(torch.equal(light[key][k], full[key][k]) for k in full[key])
    assert light["counters"] == full["counters"] and light["rng"] == full["rng"]

    resumed = MetaRun(load_recipe(None, TINY + ["outer.steps=3"]), tmp_path / "b", resume=True)
    t = resumed.trainer
    assert all(torch.equal(t.controller.state_dict()[k], full["controller"][k]) for k in full["controller"])
    assert t.outer_opt.state_dict()["state"][0]["step"] == full["outer_opt"]["state"][0]["step"]
    assert all(t.pending)                                 # every group is drawn afresh
    resumed.train()
    resumed.close()
    assert resumed.trainer.counters.outer_step == 3
    assert not torch.equal(resumed.trainer.controller.state_dict()["head.weight"], full["controller"]["head.weight"])


def test_the_tool_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"hello": 1}, bad)
    with pytest.raises(RunError, match="not an lropt meta-training checkpoint"):
        strip_inner_runs(bad, tmp_path / "y.pt")
    out = subprocess.run([sys.executable, str(TOOL), str(bad), str(tmp_path / "y.pt")], capture_output=True, text=True)
    assert out.returncode == 2 and "not an lropt meta-training checkpoint" in out.stderr

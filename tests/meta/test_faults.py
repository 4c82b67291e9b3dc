"""Injected faults in meta-training: a full disk keeps the previous checkpoint and says so."""
import errno

import pytest
import torch

from lropt import controller_file
from lropt.meta.recipe import load_recipe
from lropt.meta.run import MetaRun, RunError

from common import TINY_META as TINY


def test_full_disk_reports_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    run = MetaRun(load_recipe(None, TINY + ["outer.steps=2"]), tmp_path / "run")
    run.train()
    ckpt = tmp_path / "run" / "checkpoint.pt"
    before = ckpt.read_bytes()

    def full_disk(obj, fh, *a, **k):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(controller_file.torch, "save", full_disk)
    run.trainer.outer_step()
    with pytest.raises(RunError, match="disk full.*previous checkpoint is intact"):
        run.checkpoint()
    assert ckpt.read_bytes() == before
    assert not [p for p in ckpt.parent.iterdir() if ".tmp-" in p.name]
    monkeypatch.undo()
    state = torch.load(ckpt, weights_only=False)
    assert state["trainer"]["counters"]["outer_step"] == 2
    run.close()


def test_a_non_finite_meta_gradient_skips_the_update_and_is_counted(monkeypatch):
    from lropt.meta import trainer as T

    rec = load_recipe(None, TINY + ["outer.steps=2", "estimator.name=pes"])
    tr = T.MetaTrainer(rec, seed=0)
    before = {k: v.clone() for k, v in tr.controller.state_dict().items()}
    real_pes = T.pes

    def poisoned(*args, **kwargs):
        grads, loss, info = real_pes(*args, **kwargs)
        return {k: torch.full_like(v, float("nan")) for k, v in grads.items()}, loss, info

    monkeypatch.setattr(T, "pes", poisoned)
    tr.outer_step()
    assert tr.counters.skipped_updates == 1
    for k, v in tr.controller.state_dict().items():
        assert torch.equal(v, before[k]), k
    monkeypatch.undo()
    tr.outer_step()
    assert tr.counters.skipped_updates == 1
    assert any(not torch.equal(v, before[k]) for k, v in tr.controller.state_dict().items())

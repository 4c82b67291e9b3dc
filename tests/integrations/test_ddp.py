"""DDP: two gloo processes on CPU, different local data; every rank must compute the same LR."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")

STEPS = 8


def test_synced_loss_gives_identical_lr_and_params(tmp_path):
    import ddp_worker

    mp.spawn(ddp_worker.worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path), STEPS), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))

    synced0, synced1 = r0["synced"], r1["synced"]
    assert synced0["ticks"] == synced1["ticks"] == STEPS
    assert synced0["lrs"] == synced1["lrs"]  # every step, exactly
    assert synced0["lrs"][-1] != [1e-2], "the controller should move the LR"
    for p, q in zip(synced0["params"], synced1["params"]):
        assert torch.equal(p, q)
    assert synced0["in_sync"] and synced1["in_sync"]

    assert r0["mean_both"] == r1["mean_both"] == 1.5
    assert r0["mean_one"] == 5.0 and r1["mean_one"] is None

    # the control: feeding each rank its local loss lets the LRs (and then the weights) drift apart
    local0, local1 = r0["local"], r1["local"]
    assert local0["lrs"] != local1["lrs"]
    assert not (local0["in_sync"] or local1["in_sync"])
    assert any(not torch.equal(p, q) for p, q in zip(local0["params"], local1["params"]))


def test_sync_loss_without_process_group_is_identity():
    from lropt.integrations.ddp import is_distributed, sync_loss

    assert not is_distributed()
    loss = torch.tensor(2.5, requires_grad=True) * 1
    out = sync_loss(loss)
    assert out.item() == 2.5 and not out.requires_grad
    assert sync_loss(1.5).item() == 1.5

"""The per-rank body of the DDP test (a module of its own, so spawned processes can import it)."""
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP


def worker(rank: int, world: int, init_file: str, out_dir: str, steps: int) -> None:
    torch.set_num_threads(1)
    from integ_util import active_controller

    from lropt import LROptimizerWrapper
    from lropt.integrations import ddp

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        results = {}
        for mode in ("synced", "local"):
            torch.manual_seed(0)  # the same initial model on every rank (DDP also broadcasts rank 0's)
            model = DDP(torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)))
            opt = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2),
                                     controller=active_controller(), total_steps=steps)
            lrs = []
            for step in range(steps):
                g = torch.Generator().manual_seed(1000 * rank + step)  # different local data per rank
                x = torch.randn(16, 6, generator=g)
                y = torch.randn(16, 3, generator=g) * (1 + 2 * rank)  # and clearly different local losses
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()  # DDP averages the gradients here
                if mode == "synced":
                    ddp.step(opt, loss)  # opt.step(loss=ddp.sync_loss(loss))
                else:
                    opt.step(loss=loss)
                opt.zero_grad()
                if step % 3 == 2:
                    val = loss.detach() * 0.9
                    opt.observe(val_loss=ddp.sync_loss(val) if mode == "synced" else val)
                lrs.append(opt.get_last_lr())
            results[mode] = {
                "lrs": lrs,
                "params": [p.detach().clone() for p in model.parameters()],
                "in_sync": ddp.lr_in_sync(opt),
                "ticks": opt._ticks,
            }
        # the callbacks' helper: mean over the ranks that have a value; None where this rank has none
        results["mean_both"] = ddp._mean_or_none(torch.tensor(float(rank + 1)), torch.device("cpu")).item()
        one = ddp._mean_or_none(torch.tensor(5.0) if rank == 0 else None, torch.device("cpu"))
        results["mean_one"] = None if one is None else one.item()
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()

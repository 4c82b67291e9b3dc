"""One rank of a distributed meta-training test (spawned by test_distributed.py)."""
import torch
import torch.distributed as dist

from lropt.meta.distributed import Shard
from lropt.meta.recipe import from_dict
from lropt.meta.trainer import MetaTrainer


def worker(rank, world, rendezvous, out, recipe_dict, steps, stop_at):
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        trainer = MetaTrainer(from_dict(recipe_dict), seed=0, shard=Shard(rank, world))
        infos = []
        for s in range(steps):
            infos.append(trainer.outer_step(stop=(rank == world - 1 and s == stop_at)))
            if s == 2 and rank == 0:   # as MetaRun does: rank 0 alone validates
                trainer.validate()
        state = trainer.state_dict()
        owned = [i for i, g in enumerate(trainer.groups) if g is not None]
        torch.save({"state": state, "infos": infos, "controller": trainer.controller.state_dict(),
                    "counters": trainer.counters, "owned": owned}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()

"""Meta-training over several processes with ``torch.distributed`` (``torchrun``).

The run groups are sharded by index: rank ``r`` of ``W`` owns groups
``i % W == r``. Every rank draws every group's task, truncation length and
PES noise seed from the same seeded stream, so the draws do not depend on the
world size; it builds and unrolls only the groups it owns. One all-reduce per
outer step sums, over ranks, the meta-gradients and a few counters (meta-loss,
inner steps, diverged runs, which groups finished, a stop request); every rank
then takes the same outer step, so the controllers stay identical. The result
equals single-process meta-training with the same ``inner.groups`` up to the
order of float additions.

Rank 0 alone validates, writes checkpoints, the controller file, TensorBoard
and the progress bar. A checkpoint gathers every rank's groups onto rank 0, so
it is the same file a single process writes and can be resumed with any
number of processes.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


#: How long a rank waits in a collective (rank 0's validation runs while the others wait).
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class Shard:
    """This process's place in the process group (``rank 0 of 1`` without one)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def owns(self, group_index: int) -> bool:
        return group_index % self.world_size == self.rank


def current_shard() -> Shard:
    """The shard of the initialised default process group, or the single-process shard."""
    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str) -> tuple[Shard, str]:
    """Join the process group ``torchrun`` describes; returns the shard and this rank's device.

    The backend is NCCL for CUDA and gloo for the CPU. On CUDA each rank takes
    ``cuda:LOCAL_RANK`` (an explicit index in ``device`` is refused: it would put
    every rank on one GPU).
    """
    if not launched_by_torchrun():
        return Shard(), device
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is not None:
            raise ValueError(f"--device {device}: under torchrun pass plain 'cuda'; rank r uses cuda:LOCAL_RANK")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices are visible")
        torch.cuda.set_device(local)
        device, backend = f"cuda:{local}", "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"--device {device}: distributed meta-training supports cpu (gloo) and cuda (nccl)")
    if not dist.is_initialized():
        # Ranks wait in the next all-reduce while rank 0 validates and writes checkpoints: allow long waits.
        dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
    return current_shard(), device


def barrier(shard: Shard) -> None:
    """Wait for every rank (a no-op for one process), on the success path before :func:`shutdown`,
    so no rank tears down while a peer is still working (rank 0 writing its results). It does not
    stop gloo's own teardown from aborting now and then under torch 2.13 ("terminate called without
    an active exception"): tools/bench_meta_dist.py measured 1 abort in 18 runs with it."""
    if shard.active:
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, shard: Shard) -> torch.Tensor:
    """Sum ``t`` over ranks in place (a no-op for one process)."""
    if shard.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_to_main(obj, shard: Shard) -> list | None:
    """Every rank's ``obj`` as a list on rank 0 (``None`` elsewhere); ``[obj]`` for one process."""
    if not shard.active:
        return [obj]
    out = [None] * shard.world_size if shard.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out

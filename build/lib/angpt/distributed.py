"""Data-parallel training under torchrun: one process per device, one model, one global batch.

    torchrun --standalone --nproc_per_node 8 -m angpt train --preset angpt ... --batch-size 512

`init()` reads what torchrun puts in the environment (RANK, WORLD_SIZE, LOCAL_RANK) and
returns a `Dist` context, or None in a plain process. The training loop (angpt.train)
takes that context and does four things with it:

* every rank builds the same seeded sampler and draws the same *global* batch of
  `batch_size` windows; `Dist.shard` keeps this rank's disjoint block of rows (rank r of W
  gets rows r*B/W .. (r+1)*B/W). So one process and W processes see the same global batch
  at every step, and a run resumes under any world size that divides the batch;
* the model is wrapped in DistributedDataParallel, which averages the gradients over the
  ranks during backward: each rank's loss is the mean over B/W rows, so the average is the
  global batch's gradient. Clipping, the optimizer step and the weight constraint then run
  on identical gradients and weights on every rank, so the ranks stay in step;
* the logged train loss is averaged over the ranks (`Dist.mean`);
* rank 0 alone evaluates (and sends the value to the others, so every rank takes the same
  divergence decision), writes checkpoints, shows the progress bar and writes the JSON.

Backend nccl on CUDA (rank r uses cuda:LOCAL_RANK), gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched() -> bool:
    """True in a process started by torchrun (or any launcher that sets RANK and WORLD_SIZE)."""
    return all(k in os.environ for k in ENV_KEYS)


@dataclass(frozen=True)
class Dist:
    """This process's place in the group, and the few collectives the loop needs."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's block of rows of a global batch (batch_size divisible by world_size)."""
        check_batch(batch_size, self.world_size)
        n = batch_size // self.world_size
        return slice(self.rank * n, (self.rank + 1) * n)

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) global inputs and targets -> this rank's (B/W, T) rows."""
        rows = self.rows(x.shape[0])
        return x[rows], y[rows]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around `model` (which keeps owning the weights)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(model, device_ids=ids)

    def mean(self, value: float) -> float:
        """The average of a float over the ranks."""
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.item() / self.world_size

    def from_main(self, value: float) -> float:
        """Rank 0's value of a float, on every rank."""
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.broadcast(t, src=0)
        return t.item()

    def barrier(self) -> None:
        dist.barrier()


def check_batch(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} (the global batch) must be divisible by the world size "
                         f"{world_size}: each rank takes batch_size / world_size rows")


def init(device: str = "auto") -> Dist | None:
    """Join the process group torchrun set up; None outside torchrun.

    device: 'auto' (CUDA if present), 'cuda' or 'cpu'. On CUDA rank r uses cuda:LOCAL_RANK
    (nccl); on CPU every rank uses the CPU (gloo).
    """
    if not launched():
        return None
    rank, world, local = (int(os.environ[k]) for k in ENV_KEYS)
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but torch sees only {torch.cuda.device_count()} CUDA device(s): "
                             f"start at most that many processes per node (--nproc_per_node)")
        torch.cuda.set_device(local)  # before the group: nccl binds each rank to its device
        dev, backend = torch.device("cuda", local), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank=rank, world_size=world, local_rank=local, backend=backend, device=dev)


def teardown(ctx: Dist | None) -> None:
    """Leave the process group (a no-op outside torchrun)."""
    if ctx is not None and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["Dist", "init", "teardown", "launched", "check_batch"]

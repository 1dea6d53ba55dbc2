"""Data-parallel training under ``torchrun``: one process per GPU (nccl), or per CPU process (gloo).

    torchrun --nproc_per_node=2 -m playground.train --preset shipped --out runs/ddp.pt

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; :func:`from_env` reads them. Without them (a plain
``python -m playground.train``) everything here is a no-op and the trainer runs as one process.

How :class:`playground.mnist.train.Trainer` uses it (Goyal et al., "Accurate, Large Minibatch SGD", arXiv:1706.02677):

- ``batch_size`` is the **global** batch. Every rank draws the same global batch (same data order, same t, ε
  and label dropout: the generators are seeded alike) and keeps its own contiguous share of B / world_size
  samples, so N processes compute what one process would, up to the order of float additions.
- The model is wrapped in DistributedDataParallel, which averages the gradients across ranks during
  ``backward()``; clipping, AdamW and the EMA then see the same gradient on every rank.
- Rank 0 alone logs, makes previews and writes checkpoints. Decisions that depend on a clock (the time
  budget, a stop request, the LR plan) are taken by rank 0 and shared every ``log_every`` steps, so all
  ranks stop after the same step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistEnv", "from_env", "init", "shard", "agree", "shutdown"]


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env(environ: dict | None = None) -> DistEnv:
    """The process's place in a torchrun job (RANK / WORLD_SIZE / LOCAL_RANK), or a single process."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise ValueError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistEnv(rank=rank, world_size=world, local_rank=local)


def init(env: DistEnv, device: torch.device) -> torch.device:
    """Join the process group (nccl on CUDA, gloo otherwise) and return this rank's device (cuda:LOCAL_RANK)."""
    if not env.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def shard(x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """This rank's contiguous share of a global batch (dimension 0 must divide evenly)."""
    if not env.enabled:
        return x
    n = x.shape[0] // env.world_size
    return x[env.rank * n:(env.rank + 1) * n]


def agree(stop: bool, planned_steps: int, env: DistEnv, device: torch.device) -> tuple[bool, int]:
    """Rank 0's decisions for every rank: stop if any rank asks to, and rank 0's planned step count."""
    if not env.enabled:
        return stop, planned_steps
    v = torch.tensor([int(stop), planned_steps if env.is_main else 0], dtype=torch.long, device=device)
    dist.all_reduce(v, op=dist.ReduceOp.MAX)
    return bool(v[0]), int(v[1])


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

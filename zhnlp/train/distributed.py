"""Training one model on several processes (`torchrun ... -m zhnlp train`): everything the
trainer and the recipe need to know about the other processes, in one place.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 `join` starts the
process group (gloo on CPUs, nccl on GPUs). A `World` of size 1 (plain `zhnlp train`) makes
every method a no-op, so single-process training runs exactly as it did before.

How a step is shared: every rank holds the same model and the same sampler state, so all
draw the same source and cut the same global batch of `batch_chars` characters; rank r
trains sentences r, r+N, r+2N, ... of it (`shard`). `sync_gradients` then makes every
rank's gradient the single-process one: the mean of the ranks' gradients weighted by their
share of the batch's positions (characters, or words for word-level tasks: what the heads'
losses average over). Rank 0 alone evaluates, logs and saves; the others wait at `barrier`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from zhnlp.tasks.common import Batch

T = TypeVar("T")

# Other ranks wait at a barrier while rank 0 scores the dev sets and saves; that takes
# minutes on a CPU, so a collective counts as hung only after an hour.
TIMEOUT = timedelta(hours=1)
BUCKET = 1 << 24  # gradient elements per all-reduce (64 MB in float32)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that evaluates, logs and writes files."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def agree(self, value: float, device: torch.device) -> float:
        """Rank 0's value on every rank (time-based decisions: each rank's clock differs a
        little, and diverging decisions would leave ranks waiting on each other)."""
        if self.size == 1:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=device)
        dist.broadcast(tensor, src=0)
        return tensor.item()

    def shard(self, sentences: Sequence[T]) -> tuple[list[T], bool]:
        """(what this rank trains of a global batch, whether that is its own share). A
        global batch with fewer sentences than ranks leaves some ranks none: they train a
        stand-in sentence at weight 0, so that every rank runs the same head, uses the
        sampler's random numbers alike and takes part in the same collectives."""
        if self.size == 1:
            return list(sentences), True
        mine = list(sentences[self.rank::self.size])
        return (mine, True) if mine else (list(sentences[:1]), False)

    def broadcast_model(self, model: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (new heads start random)."""
        if self.size > 1:
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def sync_gradients(self, model: torch.nn.Module, loss: torch.Tensor, batch: Batch,
                       own: bool) -> float:
        """After backward: every rank's gradients become the gradient of the global batch
        and the return value its loss. Gradients are summed weighted by each rank's share
        of positions; a parameter without a gradient here (a head input no sentence of this
        shard reached) counts as zero when another rank has one, and stays None (skipped by
        the optimizer, as in single-process training) when no rank has one."""
        if self.size == 1:
            return loss.item()
        parameters = [p for p in model.parameters() if p.requires_grad]
        lengths = batch.word_lengths if batch.word_lengths is not None else batch.char_lengths
        units = float(lengths.sum()) if own else 0.0
        summary = torch.tensor([*(float(p.grad is not None) for p in parameters),
                                units, units * loss.item()], dtype=torch.float64,
                               device=loss.device)
        dist.all_reduce(summary)
        *with_grad, total, loss_sum = summary.tolist()
        grads = []
        for parameter, count in zip(parameters, with_grad):
            if count:
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)
                grads.append(parameter.grad)
        for bucket in _buckets(grads):
            flat = torch.cat([g.reshape(-1) for g in bucket]) * (units / total)
            dist.all_reduce(flat)
            for grad, part in zip(bucket, flat.split([g.numel() for g in bucket])):
                grad.copy_(part.view_as(grad))
        return loss_sum / total


def _buckets(tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive groups of about BUCKET elements: few collectives, bounded extra memory."""
    buckets: list[list[torch.Tensor]] = [[]]
    size = 0
    for tensor in tensors:
        if size and size + tensor.numel() > BUCKET:
            buckets.append([])
            size = 0
        buckets[-1].append(tensor)
        size += tensor.numel()
    return [bucket for bucket in buckets if bucket]


_world = World()


def current() -> World:
    """The world `join` set up (a single process before, or without torchrun)."""
    return _world


def join(device: str = "cpu") -> tuple[World, str]:
    """Read torchrun's environment and, with WORLD_SIZE > 1, join the process group (its
    rendezvous: MASTER_ADDR/MASTER_PORT, set by torchrun). Returns the world and this
    process's device: `cuda` becomes `cuda:LOCAL_RANK`, one GPU per process."""
    global _world
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return _world, device
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda"):
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                rank=world.rank, world_size=world.size, timeout=TIMEOUT)
    _world = world
    return world, device


def leave() -> None:
    """Leave the process group `join` started (a no-op for a single process)."""
    global _world
    if dist.is_initialized():
        dist.destroy_process_group()
    _world = World()

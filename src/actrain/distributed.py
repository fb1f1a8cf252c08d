"""Several processes (`accelerate launch`, `torchrun`): who does which item, and how results meet.

Data work (expert collection, alternative scoring and sampling, critic evaluation, rollouts) is
split item by item across the processes and gathered back in the original order, so that every
process ends with the same full result as a single process would. Only the main process writes
files (`io.write_atomic` is a no-op elsewhere) and every pipeline step ends at a barrier, so no
process reads a file another is still writing. Training stages are TRL's own (DDP, DeepSpeed,
FSDP through the accelerate config).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def launched() -> bool:
    """True when this process is one of several (`WORLD_SIZE` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> None:
    """Join the process group the launcher describes (gloo on CPUs, NCCL on GPUs)."""
    if launched():
        from accelerate import PartialState

        PartialState()


def _group_ready() -> bool:
    import torch.distributed as dist

    return launched() and dist.is_available() and dist.is_initialized()


def world() -> int:
    if not _group_ready():
        return 1
    import torch.distributed as dist

    return dist.get_world_size()


def rank() -> int:
    if not _group_ready():
        return 0
    import torch.distributed as dist

    return dist.get_rank()


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


def main_first(work: Callable[[], R]) -> R:
    """Run `work` on the main process, then on the others: for set-up that fills a shared cache
    (TextWorld writes its generated games to disk), so that processes never race on it."""
    if is_main():
        result = work()
        barrier()
        return result
    barrier()
    return work()


def shard(items: Sequence[T]) -> list[T]:
    """This process's items: every `world()`-th one, starting at its rank."""
    return list(items[rank() :: world()])


def gather(local: Sequence[R], total: int) -> list[R]:
    """The inverse of `shard`: every process's results, back in the items' order."""
    size = world()
    if size == 1:
        return list(local)
    import torch.distributed as dist

    parts: list[Any] = [None] * size
    dist.all_gather_object(parts, list(local))
    merged: list[Any] = [None] * total
    for r, part in enumerate(parts):
        merged[r::size] = part
    return merged


def map_sharded(work: Callable[[list[T]], Sequence[R]], items: Sequence[T]) -> list[R]:
    """`work(items)` computed with the items split across processes; same result everywhere.

    `work` must return one result per item, in order.
    """
    mine = shard(items)
    done = work(mine)
    if len(done) != len(mine):
        raise ValueError(f"sharded work returned {len(done)} results for {len(mine)} items")
    return gather(done, len(items))

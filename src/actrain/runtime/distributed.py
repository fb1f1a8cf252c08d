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


def free_port() -> int:
    """A local port nothing holds now, for a launched process group's rendezvous."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launched() -> bool:
    """True when this process is one of several (`WORLD_SIZE` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


_TIMEOUT_S = [1800]  # the process group's timeout: TRL's own default, set by `init`


def init(timeout_s: int = 1800) -> None:
    """Join the process group the launcher describes (gloo on CPUs, NCCL on GPUs).

    `timeout_s` is how long a process waits at a collective for the others before the run
    stops. It must be given here: the group is made once, and torch's default (10 minutes for
    NCCL) would stop a run whose main process spends longer alone, e.g. replaying branches.
    """
    _TIMEOUT_S[0] = timeout_s
    if launched():
        from datetime import timedelta

        from accelerate import PartialState

        PartialState(timeout=timedelta(seconds=timeout_s))


def timeout_seconds() -> int:
    """The process group's timeout (`init`), which the trainers' `ddp_timeout` repeats."""
    return _TIMEOUT_S[0]


def node_share(total: int) -> int:
    """This process's part of a per-node budget (environment workers, JVMs): the config states
    what one machine runs, and `accelerate launch` starts LOCAL_WORLD_SIZE processes on it."""
    if total <= 0:
        return total
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if launched() else 1
    return max(1, -(-total // max(local, 1)))


def sharding() -> str | None:
    """"zero3" or "fsdp" when `accelerate launch` shards the weights across processes, else
    None (one process, DDP, ZeRO-1/2). Read from the launcher's environment, so that a run can
    refuse what sharding breaks before it loads anything."""
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "fsdp"
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true":
        return None
    stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "")
    config_file = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "")
    if not stage and config_file and os.path.exists(config_file):
        import json

        with open(config_file, encoding="utf-8") as handle:
            stage = str(json.load(handle).get("zero_optimization", {}).get("stage", ""))
    return "zero3" if stage == "3" else None


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


# How long a process waits at a barrier for the main process: main-only steps (replaying
# branches for outcomes, the hard set) can run for hours on ALFWorld-sized data, far past the
# group's `collective_timeout`, which still bounds the collectives where every process works.
# A crashed process still ends the wait at once: gloo sees its connection close.
PATIENT_DAYS = 7
_PATIENT: list[Any] = []


def barrier() -> None:
    """Wait until every process is here: on a gloo group of its own with a timeout of
    `PATIENT_DAYS` (made at the first barrier, which every process reaches in the same order),
    not on the default group, whose timeout a main-only step would outlast."""
    if _group_ready():
        import torch.distributed as dist

        if not _PATIENT or _PATIENT[0] is not dist.group.WORLD:  # made again with the group
            from datetime import timedelta

            _PATIENT[:] = [dist.group.WORLD, dist.new_group(
                backend="gloo", timeout=timedelta(days=PATIENT_DAYS))]
        dist.barrier(group=_PATIENT[1])


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


def map_sharded(work: Callable[[list[T]], Sequence[R]], items: Sequence[T],
                even: bool = False) -> list[R]:
    """`work(items)` computed with the items split across processes; same result everywhere.

    `work` must return one result per item, in order. With `even`, every process is handed the
    same number of items, short shards padded with copies of the first item (their results
    dropped): for work that is a collective per batch (generation on a ZeRO-3 or FSDP model),
    where every process must make the same calls.
    """
    mine = shard(items)
    handed = mine + [items[0]] * (-(-len(items) // world()) - len(mine)) if even and items \
        else mine
    done = work(handed)
    if len(done) != len(handed):
        raise ValueError(f"sharded work returned {len(done)} results for {len(handed)} items")
    return gather(list(done)[: len(mine)], len(items))


def all_max(value: int, device: Any = "cpu") -> int:
    """The largest `value` over the processes, so that all take the same branch when each
    branch makes a different number of collective calls. `device`: where the backend reduces
    (NCCL: the process's GPU)."""
    if not _group_ready():
        return value
    import torch
    import torch.distributed as dist

    most = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(most, op=dist.ReduceOp.MAX)
    return int(most.item())


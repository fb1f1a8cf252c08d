"""One rank of `test_resample_collectives.py`: resample flat pair groups under a 2-process gloo
group, where every generation call is a collective (as under ZeRO-3, FSDP or vLLM server mode).

Usage: RANK=r WORLD_SIZE=2 MASTER_ADDR=... MASTER_PORT=... python resample_ranks.py OUT_DIR
Writes OUT_DIR/rank-r.json: the rows of each generation call, on this rank and on every rank.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import torch.distributed as dist
from rank_exit import finish
from scripted_rollout import Scripted, Tok, correct, pairs, trainer

# rank 0: three flat groups, each fixed by one try; rank 1: one flat group that needs two tries
BATCHES = {0: ["B"] * 4 + ["A"] * 4 + ["C"] * 4 + ["D"] * 4, 1: ["A"] * 8 + ["D"] * 4 + ["A"] * 4}
DRAWS = {0: "AAA", 1: "BA"}


class Collective(Scripted):
    """Every generation call all-gathers the row counts, as a sharded forward all-gathers."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.seen: list[list[int]] = []

    def _complete(self, trainer, prompt_ids, log):  # noqa: ANN001, ANN202
        sizes: list[int | None] = [None] * dist.get_world_size()
        dist.all_gather_object(sizes, len(prompt_ids))
        self.seen.append(sizes)
        return super()._complete(trainer, prompt_ids, log)


def main() -> None:
    dist.init_process_group("gloo", timeout=timedelta(seconds=30))
    rank = dist.get_rank()
    rollout = Collective(pairs(), Tok(), 4, one_token=True, correct=correct, resample_tries=3,
                         draws=DRAWS[rank])
    out = rollout(BATCHES[rank], trainer())
    dist.barrier()
    Path(sys.argv[1], f"rank-{rank}.json").write_text(json.dumps({
        "calls": rollout.calls, "seen": rollout.seen,
        "prompts": [Tok().decode(ids) for ids in out["prompt_ids"]],
    }))
    finish()


if __name__ == "__main__":
    main()

"""Resampling flat pair groups under 2 gloo processes whose flat groups differ: every process
makes the same generation calls with the same number of rows, so collective generation
(ZeRO-3, FSDP, vLLM server mode or TP>1) cannot deadlock."""

import json
from pathlib import Path

from helpers.launch import run_ranks

HELPERS = Path(__file__).parent / "helpers"


def test_ranks_with_different_flat_groups_make_the_same_generation_calls(tmp_path):
    run_ranks(HELPERS / "resample_ranks.py", [str(tmp_path)], timeout=120)
    rank0, rank1 = (json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in range(2))
    # the batch; 3 flat groups on rank 0 (rank 1 pads its 1 to 3); rank 1's second try
    assert rank0["calls"] == rank1["calls"] == [16, 12, 4]
    assert all(sizes[0] == sizes[1] for sizes in rank0["seen"])
    assert rank0["prompts"] == rank1["prompts"] == ["A", "A", "a", "a"] * 4

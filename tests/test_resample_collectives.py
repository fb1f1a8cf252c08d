"""Resampling flat pair groups under 2 gloo processes whose flat groups differ: every process
makes the same generation calls with the same number of rows, so collective generation
(ZeRO-3, FSDP, vLLM server mode or TP>1) cannot deadlock."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

HELPERS = Path(__file__).parent / "helpers"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ranks_with_different_flat_groups_make_the_same_generation_calls(tmp_path):
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(HELPERS), str(Path(__file__).parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    ranks = [subprocess.Popen([sys.executable, str(HELPERS / "resample_ranks.py"), str(tmp_path)],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(2)]
    try:
        logs = [p.communicate(timeout=120)[0] for p in ranks]
    finally:
        for p in ranks:
            p.kill()
    assert [p.returncode for p in ranks] == [0, 0], "\n".join(log[-2000:] for log in logs)
    rank0, rank1 = (json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in range(2))
    # the batch; 3 flat groups on rank 0 (rank 1 pads its 1 to 3); rank 1's second try
    assert rank0["calls"] == rank1["calls"] == [16, 12, 4]
    assert all(sizes[0] == sizes[1] for sizes in rank0["seen"])
    assert rank0["prompts"] == rank1["prompts"] == ["A", "A", "a", "a"] * 4

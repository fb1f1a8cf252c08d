"""Start a helper script as `accelerate launch` starts its processes (RANK, LOCAL_RANK,
WORLD_SIZE, a free rendezvous port; gloo, as no GPU is visible), for the tests that need
several real processes (`free_port` is the package's own, `distributed.free_port`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from actrain.runtime.distributed import free_port

TESTS = Path(__file__).parents[1]


def launch_env(**extra: str) -> dict[str, str]:
    """This environment with the checkout's sources and the helpers importable, one thread a
    process (2 processes share 2 cores), no GPU."""
    path = [str(TESTS.parent / "src"), str(TESTS / "helpers"), str(TESTS),
            os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": os.pathsep.join(path), **extra}


def run_ranks(script: Path, args: list[str], world: int = 2, timeout: int = 600,
              env: dict[str, str] | None = None) -> list[str]:
    """`script *args` on `world` processes; every one must exit 0. Their output, by rank."""
    base = {**(env or launch_env()), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(free_port())}
    ranks = [subprocess.Popen([sys.executable, str(script), *args],
                              env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(world)]
    try:
        logs = [p.communicate(timeout=timeout)[0] for p in ranks]
    finally:
        for p in ranks:
            p.kill()
    assert [p.returncode for p in ranks] == [0] * world, "\n".join(log[-2500:] for log in logs)
    return logs

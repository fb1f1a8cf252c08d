"""Peak memory per stage: reset before it, read after it, and what it left freed before the
next, so each stage's peak is its own. CUDA's allocator on a GPU, the peak RSS on a CPU."""

from __future__ import annotations

import gc
import resource
from pathlib import Path
from typing import Any


def reset_peak(cuda: bool) -> bool:
    """Start a new peak: CUDA's allocator statistics, or the process's peak RSS (Linux resets
    it through /proc/self/clear_refs). False where the RSS peak cannot be reset."""
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory(cuda: bool) -> dict[str, Any]:
    """The peak since `reset_peak`, in MiB, and what was measured."""
    if cuda:
        import torch

        return {"peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
                "peak_memory_kind": "torch.cuda.max_memory_allocated"}
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_memory_mib": round(kib / 1024, 1), "peak_memory_kind": "peak RSS (getrusage)"}


def free_memory(cuda: bool) -> str | None:
    """Drop what a finished stage left, so the next one's peak is its own. Returns the error
    instead of raising it: after a failed CUDA kernel even this fails, and the next stage must
    still run (and record what it meets)."""
    try:
        gc.collect()
        if cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    except Exception as exc:  # noqa: BLE001 - reported beside the stage that left it
        return f"{type(exc).__name__}: {exc}"[:500]
    return None

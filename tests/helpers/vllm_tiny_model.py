"""A tiny random llama that vLLM's CPU attention takes (head size 32; `tiny-random`'s 16 is not
among the sizes its kernels are built for: "Unsupported CPU attention configuration")."""

from __future__ import annotations

from pathlib import Path


def vllm_tiny_model(folder: Path) -> str:
    from actrain.runtime.models import save_random_model

    if (folder / "config.json").exists():
        return str(folder)
    return str(save_random_model(folder, heads=2, kv_heads=1, head_dim=32))

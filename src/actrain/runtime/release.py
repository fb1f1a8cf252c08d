"""Free what a step held before the next one needs the memory: vLLM engines, a trained model and
its trainer, DeepSpeed's global config, and the allocator's cached blocks.

A `compare` run trains and evaluates many models in one process, and a vLLM engine takes a fixed
share of its GPU's free memory when it starts. Anything the previous step left behind (an
engine, a model kept alive by a reference cycle, ZeRO-3 switched on for every later
`from_pretrained`) is memory or behaviour the next step did not ask for.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable
from typing import Any

import torch

from actrain.runtime import distributed


def free_memory() -> None:
    """Collect unreachable objects (models sit in reference cycles) and hand the GPU memory
    they held back to the driver, so that a vLLM engine starting next sees it as free."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def free_vllm_state() -> None:
    """Tear down vLLM's process groups, as vLLM's own cleanup does, without ending the
    launcher's process group that every other step of a launched run still uses."""
    if "vllm" not in sys.modules:
        return
    from vllm.distributed import parallel_state

    if distributed.launched():
        parallel_state.destroy_model_parallel()
    else:
        parallel_state.cleanup_dist_env_and_memory()


def forget_training_state() -> None:
    """Drop the global state a trainer leaves behind.

    accelerate keeps the ZeRO-3 `HfDeepSpeedConfig` alive in its `AcceleratorState`, and while it
    lives transformers partitions every model it loads: the evaluation of a checkpoint would
    load it in pieces with no DeepSpeed engine to gather them.
    """
    from accelerate.state import AcceleratorState
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    AcceleratorState._reset_state()  # the next TrainingArguments resets it too


def release(engines: Iterable[Any] = (), after_training: bool = False) -> None:
    """Free what a step held: close `engines` (vLLM), forget a finished trainer's global state
    (`after_training`; TRL's colocated vLLM engine included), then free the memory."""
    for engine in engines:
        engine.close()
    if after_training:
        forget_training_state()
        free_vllm_state()
    free_memory()

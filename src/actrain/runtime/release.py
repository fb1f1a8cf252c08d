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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from actrain.runtime import distributed


def free_memory() -> None:
    """Collect unreachable objects (models sit in reference cycles) and hand the GPU memory
    they held back to the driver, so that a vLLM engine starting next sees it as free."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


@contextmanager
def launcher_group_kept() -> Iterator[None]:
    """Inside: tearing down vLLM leaves the launcher's own process group alone.

    An engine started by the external launcher (every engine under `accelerate launch`, TRL's
    colocated one included) runs in this process, and its shutdown ends with vLLM's
    `cleanup_dist_env_and_memory`, which destroys the default process group: after closing the
    first engine every process would think it runs alone, and the next engine fails on every
    rank but 0 (`rank < size`). vLLM's own groups (its world and model-parallel groups) are
    still destroyed; only a call that would end the default group does nothing.
    """
    import torch.distributed as dist

    if not (distributed.launched() and dist.is_available()):
        yield
        return
    real = dist.destroy_process_group

    def destroy(group: Any = None) -> None:
        if group is None or group is dist.GroupMember.WORLD:
            return
        real(group)

    dist.destroy_process_group = destroy
    try:
        yield
    finally:
        dist.destroy_process_group = real


def shut_down_engine(llm: Any) -> None:
    """Stop an engine's core (its worker process, or its in-process executor), with the
    launcher's group kept: dropping the last reference to an `LLM` does not free its GPU
    memory."""
    stop = getattr(llm, "shutdown", None)
    if stop is None:
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        stop = getattr(core, "shutdown", None)
    if stop is not None:
        with launcher_group_kept():
            stop()


def drop_vllm_import_tracebacks() -> None:
    """Let go of the frames vLLM's first import was made from.

    vLLM keeps the error of an optional import that failed at module level (torchcodec, absent
    from the CPU install and broken wherever its ffmpeg is missing) with its traceback, and so
    every frame on the stack when vLLM was first imported. TRL imports vLLM while a GRPO trainer
    is built, so that trainer and its model stayed alive for the rest of the process. The error
    is kept, its traceback dropped.
    """
    audio = sys.modules.get("vllm.multimodal.media.audio")
    error = getattr(audio, "_torchcodec_import_exc", None)
    while error is not None:
        error.__traceback__ = None
        error = error.__cause__ or error.__context__


def free_vllm_state() -> None:
    """Tear down vLLM's process groups and unfreeze the garbage collector, as vLLM's own cleanup
    does, without ending the launcher's process group that every later step still uses."""
    if "vllm" not in sys.modules:
        return
    from vllm.distributed import parallel_state

    drop_vllm_import_tracebacks()
    with launcher_group_kept():
        parallel_state.cleanup_dist_env_and_memory()


def release_trainer(trainer: Any) -> None:
    """Let a finished trainer go: close TRL's colocated vLLM engine, drop what points back at
    the trainer, and free the accelerator's models, optimizers and DeepSpeed engine.

    TRL starts its colocated engine in this process inside `GRPOTrainer.__init__`, and vLLM's
    engine core freezes the garbage collector there (`gc.freeze()`): the trainer, its model and
    the engine itself are never collected until the engine is shut down, which TRL never does.
    At paper scale that is the engine's share of the GPU and the ZeRO-3 state (about 39 GiB a
    GPU for Qwen3-8B) still held when RL starts its own engine. Shutting the engine down
    unfreezes the collector (`EngineCore.shutdown`), with the launcher's group kept.
    """
    generation = getattr(trainer, "vllm_generation", None)
    llm = getattr(generation, "llm", None)
    if llm is not None:
        shut_down_engine(llm)
        generation.llm = None
    handler = getattr(trainer, "callback_handler", None)
    for callback in getattr(handler, "callbacks", []):
        if getattr(callback, "trainer", None) is trainer:
            callback.trainer = None  # e.g. the critic curve, the resample counter
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None:
        accelerator.free_memory()


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

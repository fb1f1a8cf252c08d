"""What a run checks before it writes anything: every error that would otherwise come minutes
or hours in, at the stage that meets it, comes now as one line."""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

from actrain.config.plugins import load_reward
from actrain.envs.base import use_entry_point
from actrain.errors import ActrainError
from actrain.run.context import RunContext
from actrain.run.step_table import STEP, wanted
from actrain.runtime.tracking import check_trackers
from actrain.stages.inputs import stage_inputs


def check_run(ctx: RunContext) -> None:
    """An unknown environment or entry point, a tracker that is not installed, a model that
    cannot be found, a reward that cannot be imported, a training section TRL would reject."""
    from actrain.runtime.models import resolve_model_path
    from actrain.stages.trl_args import trl_args

    c = ctx.config
    use_entry_point(c.env)
    check_trackers(c.report_to)
    resolve_model_path(c.model)
    k = c.critic.candidates
    if k > 2 and ctx.uses_act and c.alternatives.per_state < k - 1:
        raise ActrainError(f"critic.candidates {k} needs alternatives.per_state >= {k - 1} "
                           f"(the K - 1 alternatives of a state), got "
                           f"{c.alternatives.per_state}")
    if c.alternatives.pairs_from:
        from actrain.data.reused_pairs import pairs_folder

        pairs_folder(c.alternatives.pairs_from)
    elif wanted(STEP["pairs"], c, ctx.stages()) and c.alternatives.policy != "base":
        resolve_model_path(c.alternatives.policy)
    stages = ctx.stages()
    for section, used in (("act", ctx.uses_act), ("rl", "rl" in stages)):
        path = getattr(c, section).reward
        if used and path:  # a user's reward that would fail at its stage fails now
            load_reward(path, f"{section}.reward")
    check_sharding(c)
    with tempfile.TemporaryDirectory() as tmp:
        args = {stage: trl_args(stage_inputs(dataclasses.replace(c, device="cpu"), stage),
                                stage, tmp) for stage in sorted(stages)}
    check_training_memory(c, args)


def check_sharding(c: Any) -> None:
    """What weight sharding (DeepSpeed ZeRO-3, FSDP) cannot train here. QLoRA loads its 4-bit
    base onto each process's GPU whole (`device_map`), which transformers refuses under ZeRO-3,
    and sharding NF4 weights needs a storage dtype this run does not set."""
    from actrain.runtime import distributed

    how = distributed.sharding()
    if how and c.peft.enabled and c.peft.load_in_4bit:
        name = {"zero3": "DeepSpeed ZeRO-3", "fsdp": "FSDP"}[how]
        raise ActrainError(f"peft.load_in_4bit (QLoRA) cannot train under {name} here: launch "
                           "with a DDP or ZeRO-2 accelerate config (configs/accelerate/"
                           "ddp-8gpu.yaml), or set peft.load_in_4bit: false")


def check_training_memory(c: Any, args: dict[str, Any], gpu_gib: float | None = None) -> None:
    """Refuse, before collection and pairs, a training that cannot fit one GPU: full
    fine-tuning without ZeRO-3 or FSDP keeps every parameter's fp32 weight, gradient and two
    AdamW moments on each GPU (16 bytes a parameter: 122 GiB for an 8B model), plus a colocated
    vLLM engine's share. Only that lower bound is checked (activations come on top), so what
    this refuses would certainly fail at its first step. The figures are `actrain plan`'s
    (`plan_costs.memory_gib` with no tokens, `plan_costs.vllm_share`). `args`: each training
    stage's TRL arguments; `gpu_gib`: this process's GPU's memory, read from torch when None."""
    from actrain.run.plan_costs import memory_gib, model_shape, vllm_share
    from actrain.runtime import distributed
    from actrain.runtime.device import resolve_device

    if not args or c.peft.enabled or distributed.sharding():
        return
    if gpu_gib is None:
        import torch

        device = resolve_device(c.device)
        if not device.startswith("cuda"):
            return
        gpu_gib = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
    try:
        shape = model_shape(c.model)
    except ActrainError:
        return  # not sized offline: `actrain plan` says the same
    # weights, gradients and moments are the same for every stage: no activations (0 tokens)
    states = memory_gib(shape, c, 0, next(iter(args.values())), 1, False)[0]
    vllm = max(vllm_share(stage_args, gpu_gib) for stage_args in args.values())
    if states + vllm > gpu_gib:
        colocated = f" and a colocated vLLM engine's {vllm:.0f} GiB" if vllm else ""
        raise ActrainError(
            f"training all {shape.params / 1e9:.1f}B parameters of {c.model} needs at least "
            f"{states:.0f} GiB a GPU (fp32 weights and gradients, AdamW's two moments){colocated}"
            f", and this GPU has {gpu_gib:.0f} GiB: launch with ZeRO-3 (configs/accelerate/"
            f"zero3-8gpu.yaml) or FSDP, or set peft.enabled: true (`actrain plan` shows each "
            "stage's memory)")

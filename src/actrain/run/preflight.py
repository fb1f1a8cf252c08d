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
        for stage in sorted(stages):
            trl_args(stage_inputs(dataclasses.replace(c, device="cpu"), stage), stage, tmp)


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

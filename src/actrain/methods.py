"""Methods: the training stages a method is made of, and the settings each stage reads.

A method is its stages joined by "_" (`act_il_rl` = ACT, then IL, then RL; `prompt` trains
nothing). `act` trains the critic with `act.objective`; `act-grpo`, `act-sft` and `act-dpo` name
the objective, so one comparison can hold GRPO next to its supervised ablations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from actrain.config import RunConfig
from actrain.errors import ActrainError

TRAINING_STAGES = ("act", "act-grpo", "act-sft", "act-dpo", "il", "rl")


def is_act(stage: str) -> bool:
    return stage == "act" or stage.startswith("act-")


def stage_config(config: RunConfig, stage: str) -> Any:
    """The settings a training stage reads: `act-sft` is the `act` section with objective sft."""
    if is_act(stage):
        objective = stage.partition("-")[2] or config.act.objective
        return dataclasses.replace(config.act, objective=objective)
    return getattr(config, stage)


def critic_prefix(prefix: tuple[str, ...]) -> tuple[str, ...] | None:
    """The prefix up to the method's ACT stage (its critic checkpoint), if it has one."""
    for i, stage in enumerate(prefix):
        if is_act(stage):
            return prefix[: i + 1]
    return None


def method_stages(method: str) -> tuple[str, ...]:
    """`"act_il_rl"` -> `("act", "il", "rl")`; `"prompt"` -> `()`."""
    if method == "prompt":
        return ()
    parts = tuple(method.split("_"))
    if not method or any(p not in TRAINING_STAGES for p in parts):
        raise ActrainError(
            f"unknown method {method!r}: use 'prompt' or training stages "
            f"{', '.join(TRAINING_STAGES)} joined by '_' (e.g. act_il_rl, il_rl_rl)"
        )
    return parts

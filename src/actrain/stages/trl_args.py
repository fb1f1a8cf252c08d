"""The TRL config a training stage gets, built on its own: for `actrain plan`, and before a
stage's model loads (under DeepSpeed ZeRO-3 the config's DeepSpeed settings must exist while
`from_pretrained` runs, so that the weights are partitioned as they load)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from actrain.config import RunConfig
from actrain.methods import is_act, stage_config


def trl_args(config: RunConfig, stage: str, tmp: str) -> Any:
    """The TRL config the stage would train with (built here, so bad keys fail now)."""
    out = Path(tmp) / stage
    if is_act(stage):
        act_config = dataclasses.replace(config, act=stage_config(config, stage))
        if act_config.act.objective == "grpo":
            from actrain.stages.act import grpo_config

            return grpo_config(act_config, out)
        from actrain.stages.act_supervised import dpo_choice_config, sft_choice_config

        build = sft_choice_config if act_config.act.objective == "sft" else dpo_choice_config
        return build(act_config, out)
    if stage == "il":
        from actrain.stages.il import sft_config

        return sft_config(config, out)
    from actrain.stages.common import grpo_args

    return grpo_args(config.rl, "rl", out, config, config.rl.max_new_tokens)

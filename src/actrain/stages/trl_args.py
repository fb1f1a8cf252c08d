"""The TRL config a training stage gets, built on its own: for `actrain plan`, and before a
stage's model loads (under DeepSpeed ZeRO-3 the config's DeepSpeed settings must exist while
`from_pretrained` runs, so that the weights are partitioned as they load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.stages.inputs import ACTInputs, RLInputs, StageInputs


def trl_args(inputs: StageInputs, stage: str, tmp: str) -> Any:
    """The TRL config the stage would train with (built here, so bad keys fail now)."""
    out = Path(tmp) / stage
    if isinstance(inputs, ACTInputs):
        if inputs.act.objective == "grpo":
            from actrain.stages.act import grpo_config

            return grpo_config(inputs, out)
        from actrain.stages.act_supervised import dpo_choice_config, sft_choice_config

        build = sft_choice_config if inputs.act.objective == "sft" else dpo_choice_config
        return build(inputs, out)
    if isinstance(inputs, RLInputs):
        from actrain.stages.common import grpo_args

        return grpo_args(inputs.rl, "rl", out, inputs.trainer, inputs.rl.max_new_tokens)
    from actrain.stages.il import sft_config  # IL and the Early Experience stages: SFT

    return sft_config(inputs, out)
